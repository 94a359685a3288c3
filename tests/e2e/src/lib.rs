//! Helpers for Drydock's end-to-end tests against a real API server.
//!
//! The tests run where a cluster is reachable: set `DRYDOCK_E2E_KUBECONFIG` to a kubeconfig
//! and run `cargo test -p drydock-e2e -- --ignored`. `scripts/test.sh` does so, against a
//! private control plane it starts itself (`scripts/lib/control-plane.sh`) unless the variable
//! names another cluster. A standard control plane without kubelets is enough (API server with
//! its default admission plugins, kube-controller-manager; no scheduler): the tests create fake
//! Node objects that renew their Lease as a kubelet does ([`create_node`]), play the kubelet for
//! the pods bound to them ([`Kubelet`]) and run `drydock` processes on this machine, one per fake
//! Node. Like an install, a test creates the ServiceAccounts its pods name
//! ([`TestNamespace::create_service_account`]): ServiceAccount admission refuses a pod whose
//! account does not exist.
//!
//! The `drydock` binary is `DRYDOCK_E2E_BIN` when set, otherwise `drydock` next to the test
//! executable's profile directory (`<target>/debug/drydock`, built by `cargo build -p
//! drydock`), see [`drydock_bin`].
//!
//! Everything a test creates lives in its own namespace ([`TestNamespace`]) or is registered
//! with it (fake Nodes are cluster-scoped), and [`TestNamespace::cleanup`] removes it all.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

/// The variable naming the kubeconfig of the cluster the tests run against.
pub const KUBECONFIG_ENV: &str = "DRYDOCK_E2E_KUBECONFIG";

/// The variable naming the `drydock` binary to run (default: see [`drydock_bin`]).
pub const BIN_ENV: &str = "DRYDOCK_E2E_BIN";

/// The label every object a test creates carries, so a leftover can be found and removed by
/// hand (`kubectl delete ns,node -l drydock.dev/e2e`).
pub const E2E_LABEL: &str = "drydock.dev/e2e";

/// How often [`wait_for`] looks again: often enough that a test reacts within a fraction of a
/// second, rarely enough to leave the API server alone.
pub const POLL: Duration = Duration::from_millis(250);

/// The image of the pods the tests create. No kubelet runs them; any valid reference works,
/// and this one exists should a real kubelet ever pick a pod up.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// The namespace of the Nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// How long a fake Node's Lease is valid, as a kubelet writes it (its default 40 s, the node
/// lifecycle controller's grace period).
const NODE_LEASE_SECONDS: i32 = 40;

/// How often a fake Node's Lease is renewed: a kubelet renews at a quarter of the duration.
const NODE_LEASE_RENEW: Duration = Duration::from_secs(10);

/// The field manager of every write the helpers make.
const FIELD_MANAGER: &str = "drydock-e2e";

/// The longest name prefix [`unique_name`] keeps, so the result stays a valid DNS label (63
/// characters) with room for the suffix.
const MAX_PREFIX: usize = 40;

/// Everything that can go wrong in a helper.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DRYDOCK_E2E_KUBECONFIG` is not set.
    #[error("{KUBECONFIG_ENV} is not set: the end-to-end tests need a cluster's kubeconfig")]
    NoKubeconfig,
    /// The client could not be built from the kubeconfig.
    #[error("cannot build a client from {KUBECONFIG_ENV}: {0}")]
    Client(#[from] drydock_kube::Error),
    /// An API call failed.
    #[error("{what}: {source}")]
    Api {
        /// The call.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A condition did not hold in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
    },
    /// A local file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation.
        what: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// The helpers' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Names an API error after the call that failed.
pub trait Context<T> {
    /// Wraps the error with `what`.
    fn context(self, what: impl Into<String>) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, kube::Error> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Api {
            what: what.into(),
            source,
        })
    }
}

fn io<T>(result: std::io::Result<T>, what: impl Into<String>) -> Result<T> {
    result.map_err(|source| Error::Io {
        what: what.into(),
        source,
    })
}

/// The kubeconfig named by `DRYDOCK_E2E_KUBECONFIG`.
///
/// # Errors
///
/// The variable is not set (or empty).
pub fn kubeconfig() -> Result<PathBuf> {
    std::env::var_os(KUBECONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(Error::NoKubeconfig)
}

/// The `kubectl` the tests run the spec's commands with (`kubectl` on `PATH`).
pub const KUBECTL_BIN: &str = "kubectl";

/// Runs `kubectl` against the cluster of `DRYDOCK_E2E_KUBECONFIG`, as a user types it, with
/// `stdin` as its input and `env` added to its environment; returns its standard output.
///
/// # Errors
///
/// No kubeconfig, no `kubectl` on `PATH`, or `kubectl` failed (its stderr is in the error).
pub async fn kubectl(args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let what = format!("kubectl {}", args.join(" "));
    let mut command = tokio::process::Command::new(KUBECTL_BIN);
    command
        .env("KUBECONFIG", kubeconfig()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = io(command.spawn(), format!("{what} (is kubectl installed?)"))?;
    if let Some(mut input) = child.stdin.take() {
        io(input.write_all(stdin.as_bytes()).await, &what)?;
    }
    let output = io(child.wait_with_output().await, &what)?;
    if !output.status.success() {
        return Err(Error::Io {
            what: format!("{what}: {}", String::from_utf8_lossy(&output.stderr).trim()),
            source: std::io::Error::other(output.status.to_string()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A client for the cluster named by `DRYDOCK_E2E_KUBECONFIG`.
///
/// # Errors
///
/// The variable is not set, or the kubeconfig does not give a client.
pub async fn client() -> Result<Client> {
    let path = kubeconfig()?;
    Ok(drydock_kube::client::client(Some(&path)).await?)
}

/// The `drydock` binary the tests run: `DRYDOCK_E2E_BIN` when set, otherwise `drydock` in the
/// profile directory this test executable was built into (`<target>/debug/deps/<test>` →
/// `<target>/debug/drydock`; `cargo build -p drydock` puts it there). Cargo's
/// `CARGO_BIN_EXE_drydock` is only given to tests of the `drydock` package itself.
pub fn drydock_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("drydock")))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/drydock"))
}

/// A DNS-label name unique to this process and call: `prefix-<pid>-<n>-<time>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 1_000_000);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(MAX_PREFIX)
        .collect();
    format!("{prefix}-{}-{n}-{time}", std::process::id())
}

/// Polls `check` every [`POLL`] until it returns `Some`, for at most `timeout`. An error from
/// `check` ends the wait at once.
///
/// # Errors
///
/// `check` failed, or `timeout` passed first (naming `what`).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let attempt = async {
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Error::Timeout {
            what: what.to_owned(),
            timeout,
        }),
    }
}

/// A namespace of its own for one test, and the cluster-scoped objects (fake Nodes) the test
/// registered with it.
pub struct TestNamespace {
    client: Client,
    name: String,
    nodes: Mutex<Vec<String>>,
}

impl TestNamespace {
    /// Creates a namespace named after `prefix` (made unique), with its `default`
    /// ServiceAccount (the controller manager creates it too, but not before the test's first
    /// pod may need it).
    ///
    /// # Errors
    ///
    /// An API call failed.
    pub async fn create(client: &Client, prefix: &str) -> Result<TestNamespace> {
        let name = unique_name(prefix);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { E2E_LABEL: "true" } }
        }))
        .map_err(|e| io_other("namespace object", e))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .context(format!("create namespace {name}"))?;
        create_service_account(client, &name, "default", None).await?;
        Ok(TestNamespace {
            client: client.clone(),
            name,
            nodes: Mutex::new(Vec::new()),
        })
    }

    /// Creates the ServiceAccount `name` in the namespace, as an install does for the pods
    /// that name it (ServiceAccount admission refuses a pod whose account is missing), with
    /// `automountServiceAccountToken: false`. An existing account is kept.
    ///
    /// # Errors
    ///
    /// The API call failed.
    pub async fn create_service_account(&self, name: &str) -> Result<()> {
        create_service_account(&self.client, &self.name, name, Some(false)).await
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client it was created with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A unique name for a cluster-scoped object of this test (a fake Node):
    /// `<namespace>-<suffix>`.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// Creates a fake Node (see [`create_node`]) and registers it for [`cleanup`](Self::cleanup).
    ///
    /// # Errors
    ///
    /// An API call failed.
    pub async fn create_node(&self, node: &FakeNode) -> Result<Node> {
        let created = create_node(&self.client, node).await?;
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.push(node.name.clone());
        }
        Ok(created)
    }

    /// Removes everything: the pods (forced, as no kubelet confirms their end), the namespace
    /// and the registered Nodes. Errors are collected, not fatal: cleanup goes as far as it
    /// can.
    ///
    /// # Errors
    ///
    /// The first failure, after trying everything.
    pub async fn cleanup(self) -> Result<()> {
        let mut first_error = None;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.name);
        match pods.list(&ListParams::default()).await {
            Ok(list) => {
                for pod in list.items {
                    let name = pod.metadata.name.unwrap_or_default();
                    if let Err(e) = force_delete_pod(&self.client, &self.name, &name).await {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first_error.get_or_insert(Error::Api {
                    what: format!("list pods in {}", self.name),
                    source: e,
                });
            }
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        if let Err(e) = ignore_not_found(
            namespaces
                .delete(&self.name, &DeleteParams::default())
                .await
                .map(|_| ()),
        ) {
            first_error.get_or_insert(Error::Api {
                what: format!("delete namespace {}", self.name),
                source: e,
            });
        }
        let nodes = self.nodes.lock().map(|n| n.clone()).unwrap_or_default();
        for node in nodes {
            if let Err(e) = delete_node(&self.client, &node).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Creates the ServiceAccount `namespace/name` (with `automountServiceAccountToken` when
/// given); an existing one is kept.
///
/// # Errors
///
/// The API call failed.
pub async fn create_service_account(
    client: &Client,
    namespace: &str,
    name: &str,
    automount: Option<bool>,
) -> Result<()> {
    let mut object = json!({ "metadata": { "name": name } });
    if let Some(automount) = automount {
        object["automountServiceAccountToken"] = json!(automount);
    }
    let account: ServiceAccount =
        serde_json::from_value(object).map_err(|e| io_other("service account object", e))?;
    match Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &account)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e).context(format!("create service account {namespace}/{name}")),
    }
}

fn io_other(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io {
        what: what.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn ignore_not_found(
    result: std::result::Result<(), kube::Error>,
) -> std::result::Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

/// A Node object no kubelet stands behind.
#[derive(Clone, Debug)]
pub struct FakeNode {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels` (besides [`E2E_LABEL`] and `kubernetes.io/hostname`).
    pub labels: BTreeMap<String, String>,
    /// `status.nodeInfo.bootID`.
    pub boot_id: String,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

impl FakeNode {
    /// A schedulable Linux worker named `name` with boot ID `boot-0`.
    pub fn new(name: impl Into<String>) -> FakeNode {
        FakeNode {
            name: name.into(),
            labels: BTreeMap::new(),
            boot_id: "boot-0".to_owned(),
            unschedulable: false,
        }
    }

    /// With this label.
    pub fn label(mut self, key: &str, value: &str) -> FakeNode {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Cordoned from the start.
    pub fn cordoned(mut self) -> FakeNode {
        self.unschedulable = true;
        self
    }
}

/// Creates `node`, then writes its status (boot ID, `Ready`) through the status subresource
/// and its heartbeat Lease (`kube-node-lease/<name>`, owned by the Node), as a kubelet would.
/// A task renews the Lease every [`NODE_LEASE_RENEW`] until the Lease or the Node is gone or
/// the test's runtime ends, so the node lifecycle controller keeps the Node `Ready`. Prefer
/// [`TestNamespace::create_node`], which also removes it.
///
/// # Errors
///
/// An API call failed.
pub async fn create_node(client: &Client, node: &FakeNode) -> Result<Node> {
    let mut labels = node.labels.clone();
    labels.insert(E2E_LABEL.to_owned(), "true".to_owned());
    labels.insert("kubernetes.io/hostname".to_owned(), node.name.clone());
    labels.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    let object: Node = serde_json::from_value(json!({
        "metadata": { "name": node.name, "labels": labels },
        "spec": { "unschedulable": node.unschedulable },
    }))
    .map_err(|e| io_other("node object", e))?;
    let nodes: Api<Node> = Api::all(client.clone());
    let created = nodes
        .create(&PostParams::default(), &object)
        .await
        .context(format!("create node {}", node.name))?;
    let status = set_node_status(client, &node.name, &node.boot_id, true).await?;
    let uid = created.metadata.uid.unwrap_or_default();
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {
            "name": node.name,
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Node", "name": node.name, "uid": uid,
            }],
        },
        "spec": {
            "holderIdentity": node.name,
            "leaseDurationSeconds": NODE_LEASE_SECONDS,
            "renewTime": micro_now(),
        },
    }))
    .map_err(|e| io_other("lease object", e))?;
    leases
        .create(&PostParams::default(), &lease)
        .await
        .context(format!("create the lease of node {}", node.name))?;
    let name = node.name.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(NODE_LEASE_RENEW).await;
            let patch = json!({ "spec": { "renewTime": micro_now() } });
            match leases
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Err(kube::Error::Api(status)) if status.code == 404 => break,
                // A failed renewal is retried at the next period, as a kubelet does.
                _ => {}
            }
        }
    });
    Ok(status)
}

/// Now as a `MicroTime` (RFC 3339 with microseconds), the form a Lease's times take.
fn micro_now() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "{}.{:06}Z",
        now.strftime("%Y-%m-%dT%H:%M:%S"),
        now.subsec_microsecond()
    )
}

/// Writes a Node's status as its kubelet would after (re)starting: `bootID` and the `Ready`
/// condition, with a fresh heartbeat.
///
/// # Errors
///
/// The API call failed.
pub async fn set_node_status(
    client: &Client,
    name: &str,
    boot_id: &str,
    ready: bool,
) -> Result<Node> {
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let status = if ready { "True" } else { "False" };
    let patch = json!({
        "status": {
            "nodeInfo": {
                "machineID": name, "systemUUID": name, "bootID": boot_id,
                "kernelVersion": "6.1.0-e2e", "osImage": "Drydock e2e",
                "containerRuntimeVersion": "containerd://2.0.0", "kubeletVersion": "v1.33.0",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
            "conditions": [{
                "type": "Ready", "status": status, "reason": "DrydockE2E",
                "message": "fake node of the end-to-end tests",
                "lastHeartbeatTime": now.to_string(), "lastTransitionTime": now.to_string(),
            }],
        }
    });
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
        .context(format!("write the status of node {name}"))
}

/// The Node `name`.
///
/// # Errors
///
/// The API call failed (including 404).
pub async fn get_node(client: &Client, name: &str) -> Result<Node> {
    Api::<Node>::all(client.clone())
        .get(name)
        .await
        .context(format!("get node {name}"))
}

/// A Node's `status.nodeInfo.bootID` (empty when unset).
pub fn boot_id(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.boot_id.clone())
        .unwrap_or_default()
}

/// Whether a Node is cordoned (`spec.unschedulable`).
pub fn is_cordoned(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// Deletes the Node `name`; a missing Node is not an error.
///
/// # Errors
///
/// The API call failed.
pub async fn delete_node(client: &Client, name: &str) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    ignore_not_found(
        nodes
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    )
    .context(format!("delete node {name}"))
}

/// Creates a pod bound to `node` (no scheduler involved) with `labels`, running the pause
/// image. `owner` makes it owned by that controller (`kind`, `name`, `uid`): the drain skips
/// DaemonSet pods and evicts the others.
///
/// # Errors
///
/// The API call failed.
pub async fn create_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    node: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Pod> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "containers": [{ "name": "pause", "image": PAUSE_IMAGE }],
        },
    }))
    .map_err(|e| io_other("pod object", e))?;
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pod)
        .await
        .context(format!("create pod {namespace}/{name}"))
}

/// Sets a pod's `status.phase` (`Running`, `Succeeded`, …), as its kubelet would.
///
/// # Errors
///
/// The API call failed.
pub async fn set_pod_phase(
    client: &Client,
    namespace: &str,
    name: &str,
    phase: &str,
) -> Result<Pod> {
    let patch = json!({ "status": { "phase": phase } });
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
        .context(format!(
            "set the phase of pod {namespace}/{name} to {phase}"
        ))
}

/// Deletes a pod at once (`gracePeriodSeconds=0`), as a kubelet confirming its end does; a
/// missing pod is not an error.
///
/// # Errors
///
/// The API call failed.
pub async fn force_delete_pod(client: &Client, namespace: &str, name: &str) -> Result<()> {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    ignore_not_found(
        Api::<Pod>::namespaced(client.clone(), namespace)
            .delete(name, &params)
            .await
            .map(|_| ()),
    )
    .context(format!("force-delete pod {namespace}/{name}"))
}

/// A kubelet stand-in for fake Nodes: pods bound to them that are `Pending` become
/// `Running`, and pods being deleted (an eviction, a drain) are removed at once. It runs until
/// dropped.
pub struct Kubelet(tokio::task::JoinHandle<()>);

impl Kubelet {
    /// Starts playing the kubelet of `nodes`, looking every [`POLL`].
    pub fn start(client: &Client, nodes: Vec<String>) -> Kubelet {
        let client = client.clone();
        Kubelet(tokio::spawn(async move {
            loop {
                for node in &nodes {
                    // A failed round is retried at the next poll; the test's own waits report
                    // what did not happen.
                    let _ = kubelet_round(&client, node).await;
                }
                tokio::time::sleep(POLL).await;
            }
        }))
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One look at the pods bound to `node`: start the pending ones, finish the deleted ones.
///
/// # Errors
///
/// An API call failed.
pub async fn kubelet_round(client: &Client, node: &str) -> Result<()> {
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .context(format!("list the pods of node {node}"))?;
    for pod in list.items {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            force_delete_pod(client, &namespace, &name).await?;
            continue;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, None | Some("Pending")) {
            set_pod_phase(client, &namespace, &name, "Running").await?;
        }
    }
    Ok(())
}

/// Creates a DaemonSet `name` that no node runs (its node selector matches nothing), as the
/// object the reboot lock lives on, with `annotations`.
///
/// # Errors
///
/// The API call failed.
pub async fn create_daemonset(
    client: &Client,
    namespace: &str,
    name: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<DaemonSet> {
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": annotations, "labels": { E2E_LABEL: "true" } },
        "spec": {
            "selector": { "matchLabels": { "name": name } },
            "template": {
                "metadata": { "labels": { "name": name } },
                "spec": {
                    "nodeSelector": { "drydock.dev/e2e-no-such-node": "true" },
                    "automountServiceAccountToken": false,
                    "containers": [{ "name": name, "image": PAUSE_IMAGE }],
                },
            },
        },
    }))
    .map_err(|e| io_other("daemonset object", e))?;
    Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &ds)
        .await
        .context(format!("create daemonset {namespace}/{name}"))
}

/// A `drydock` process the test started; killed when dropped.
pub struct Process {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Process {
    /// Starts [`drydock_bin`] with `args` and `env` (added to this process's environment),
    /// its stdout and stderr appended to `log`.
    ///
    /// # Errors
    ///
    /// The log cannot be opened or the binary cannot start.
    pub fn spawn(args: &[String], env: &[(String, String)], log: &Path) -> Result<Process> {
        let bin = drydock_bin();
        let out = io(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log),
            format!("open {}", log.display()),
        )?;
        let err = io(out.try_clone(), format!("open {}", log.display()))?;
        let child = io(
            tokio::process::Command::new(&bin)
                .args(args)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .kill_on_drop(true)
                .spawn(),
            format!(
                "start {} (set {BIN_ENV}, or cargo build -p drydock)",
                bin.display()
            ),
        )?;
        Ok(Process {
            child,
            log: log.to_owned(),
        })
    }

    /// Kills the process (SIGKILL, as a node losing power) and waits for it.
    ///
    /// # Errors
    ///
    /// It could not be killed.
    pub async fn kill(&mut self) -> Result<()> {
        io(self.child.kill().await, "kill drydock")
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A TCP port free on the loopback interface right now (the kernel's choice), for a process
/// the test starts (a metrics port, a mail server).
///
/// # Errors
///
/// No socket could be bound.
pub fn free_port() -> Result<u16> {
    let listener = io(
        std::net::TcpListener::bind("127.0.0.1:0"),
        "bind a loopback port",
    )?;
    Ok(io(listener.local_addr(), "read the bound port")?.port())
}

/// The body of `GET <path>` from `127.0.0.1:<port>` (HTTP/1.0, so the server closes the
/// connection when done); empty when nothing answers yet.
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The variable naming the directory of a real-node cluster (`scripts/lib/cluster.sh up DIR`):
/// set, the real-node tests run against it; unset, they return at once.
pub const CLUSTER_ENV: &str = "DRYDOCK_E2E_CLUSTER";

/// The variable naming the Drydock image reference imported into the real nodes.
pub const IMAGE_ENV: &str = "DRYDOCK_E2E_IMAGE";

/// A real-node cluster started by `scripts/lib/cluster.sh`: its directory, and the harness
/// commands on its nodes. The tests run inside the cluster's network namespace (`cluster.sh
/// run DIR cargo test …`), where its API server is reachable.
#[derive(Clone, Debug)]
pub struct RealCluster {
    dir: PathBuf,
    image: String,
}

impl RealCluster {
    /// The cluster named by `DRYDOCK_E2E_CLUSTER`, or `None` when the variable is unset (the
    /// real-node tier is not running). The image is `DRYDOCK_E2E_IMAGE`, by default the
    /// harness's own reference.
    pub fn from_env() -> Option<RealCluster> {
        let dir = std::env::var_os(CLUSTER_ENV).filter(|v| !v.is_empty())?;
        let image = std::env::var(IMAGE_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_REAL_IMAGE.to_owned());
        Some(RealCluster {
            dir: PathBuf::from(dir),
            image,
        })
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Drydock image reference every node holds.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The directory DaemonSets mount for the harness's reboot stand-in (`<dir>/harness`,
    /// holding `nsenter`).
    pub fn harness_dir(&self) -> PathBuf {
        self.dir.join("harness")
    }

    /// The directory the harness serves over HTTP inside the cluster's network namespace
    /// (`<dir>/www`, at [`Self::www_url`]).
    pub fn www_dir(&self) -> PathBuf {
        self.dir.join("www")
    }

    /// The base URL (no trailing slash) at which pods reach [`Self::www_dir`].
    ///
    /// # Errors
    ///
    /// The harness failed.
    pub async fn www_url(&self) -> Result<String> {
        let dir = self.dir.display().to_string();
        Ok(self.harness(&["www", &dir]).await?.trim().to_owned())
    }

    /// Runs `scripts/lib/cluster.sh <args>` for this cluster; returns its standard output.
    ///
    /// # Errors
    ///
    /// The script could not run or failed (its stderr is in the error).
    pub async fn harness(&self, args: &[&str]) -> Result<String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/cluster.sh");
        let what = format!("cluster.sh {}", args.join(" "));
        let output = io(
            tokio::process::Command::new("bash")
                .arg(&script)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .await,
            &what,
        )?;
        if !output.status.success() {
            return Err(Error::Io {
                what: format!("{what}: {}", String::from_utf8_lossy(&output.stderr).trim()),
                source: std::io::Error::other(output.status.to_string()),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `command` on `node` (its mount, PID and network namespaces).
    ///
    /// # Errors
    ///
    /// The command failed.
    pub async fn on_node(&self, node: &str, command: &[&str]) -> Result<String> {
        let dir = self.dir.display().to_string();
        let mut args = vec!["node", &dir, node];
        args.extend_from_slice(command);
        self.harness(&args).await
    }

    /// Imports an OCI archive into every node's containerd.
    ///
    /// # Errors
    ///
    /// The import failed.
    pub async fn import(&self, archive: &Path) -> Result<()> {
        let dir = self.dir.display().to_string();
        let archive = archive.display().to_string();
        self.harness(&["import", &dir, &archive]).await.map(|_| ())
    }

    /// The image references `node`'s containerd holds (namespace `k8s.io`).
    ///
    /// # Errors
    ///
    /// `ctr` failed.
    pub async fn images(&self, node: &str) -> Result<BTreeSet<String>> {
        let out = self
            .on_node(
                node,
                &[
                    "ctr",
                    "--address",
                    "/run/containerd/containerd.sock",
                    "-n",
                    "k8s.io",
                    "images",
                    "ls",
                    "-q",
                ],
            )
            .await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The peak memory of every container the nodes ran since the cluster started (cgroup v1
    /// `memory.max_usage_in_bytes`, sampled every second): one line `MiB node ns/pod/container`.
    ///
    /// # Errors
    ///
    /// The harness failed.
    pub async fn memory_peaks(&self) -> Result<String> {
        let dir = self.dir.display().to_string();
        self.harness(&["mem", &dir]).await
    }

    /// The cluster's reboot log: one line per reboot the harness carried out.
    pub fn reboots(&self) -> String {
        std::fs::read_to_string(self.dir.join("reboots.log")).unwrap_or_default()
    }
}

/// The Drydock image reference `scripts/lib/cluster.sh` imports unless told another.
pub const DEFAULT_REAL_IMAGE: &str = "registry.example.com/mirror/drydock:e2e";
