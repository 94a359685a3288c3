//! The [`Cluster`] port over the Kubernetes API (kube 5): the adapter the daemon runs with in a
//! cluster. It translates, it does not decide.
//!
//! - **The lock** is the `--lock-annotation` on the `--ds-namespace/--ds-name` DaemonSet, read
//!   with GET and written with a full **replace** (PUT) carrying the resourceVersion it was
//!   read at, exactly as kured does, so the RBAC footprint stays kured's (`update` on the one
//!   DaemonSet) and a 409 means another writer got there first ([`ClusterError::Conflict`]).
//!   The DaemonSet is handled as an untyped object, so a replace never drops fields this
//!   build's API types do not know. The object last read is kept, so a write right after its
//!   read is one call.
//! - **Hand-over** watches the DaemonSet (by name) and the Nodes' metadata, and completes when
//!   the lock's resourceVersion or the set of Node names differs from what the caller saw.
//!   Without the rights to watch (kured's chart grants none), it reads the DaemonSet every
//!   [`LOCK_POLL`] and the lock holders' Nodes every [`NODE_POLL`] instead ([`crate::access`]).
//! - **Nodes** are listed when the daemon may; otherwise the ones it must know (the lock
//!   holders) are read by name. Cordon and uncordon are one merge patch that also sets or removes the
//!   ownership annotation ([`CORDON_MARKER_ANNOTATION`]); the PreferNoSchedule taint is a
//!   merge patch of the whole taint list guarded by the resourceVersion it was computed from.
//! - **Pods** are listed by `spec.nodeName` in every namespace and evicted through the Eviction
//!   API (policy/v1): 429 means a PodDisruptionBudget refuses, 404 that the pod is gone. An API
//!   server older than 1.22 knows only policy/v1beta1 Evictions and says so with a 400: the
//!   eviction is sent again in that version, and every later one too (as `kubectl drain` does).
//! - **Events** are core/v1 Events on the Node ([`drydock_kube::events`]); without the right to
//!   create them they are skipped.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use drydock_kube::events::NODE_EVENT_NAMESPACE;
use drydock_kube::events::NodeEvent;
use drydock_kube::status::{ApiFailure, classify, message};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as KubeSelector;
use kube::api::{
    Api, ApiResource, DynamicObject, GetParams, ListParams, PartialObjectMeta, Patch, PatchParams,
    PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Map, Value, json};

use crate::access::{Access, LOCK_POLL, NODE_POLL, PERMISSIONS, Permission};
use crate::cluster::{
    Clock, Cluster, ClusterError, ClusterResult, Event, EventKind, Eviction, LockRead, Node,
    NodeList, NodePatch, Owner, Pod, PodPhase, ResourceVersion, Seen, Taint, TokioClock,
};
use crate::config::LockConfig;
use crate::health::{Workload, WorkloadHealth};
use crate::machine::CORDON_MARKER_ANNOTATION;
use drydock_kube::status::{FORBIDDEN, is_forbidden};

/// The annotation kubelet puts on the API mirror of a static pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The component name on Drydock's Events.
pub const EVENT_COMPONENT: &str = "drydock-rebootd";

/// The taint effect of `--prefer-no-schedule-taint`.
const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// The reboot daemon's view of the API server.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    daemonsets: Api<DynamicObject>,
    ds_name: String,
    annotation: String,
    nodes: Api<core::Node>,
    clock: TokioClock,
    /// The DaemonSet as last read or written.
    last_daemonset: Arc<Mutex<Option<DynamicObject>>>,
    /// The API server refused a policy/v1 Eviction as an unknown kind: send policy/v1beta1.
    legacy_eviction: Arc<AtomicBool>,
    /// What the daemon may do beyond kured's RBAC.
    access: Access,
    /// The health gate was refused a read (403) once already: reported once, not per turn.
    gate_denied: Arc<AtomicBool>,
    /// The Nodes last asked for by name (when Nodes may not be listed): the ones a wait
    /// reads to see one deleted.
    wanted: Arc<Mutex<Vec<String>>>,
}

impl KubeCluster {
    /// The adapter for the lock in `lock`, stamping Events with `clock`.
    pub fn new(client: kube::Client, lock: &LockConfig, clock: TokioClock) -> KubeCluster {
        let resource = ApiResource::erase::<DaemonSet>(&());
        KubeCluster {
            daemonsets: Api::namespaced_with(client.clone(), &lock.ds_namespace, &resource),
            nodes: Api::all(client.clone()),
            client,
            ds_name: lock.ds_name.clone(),
            annotation: lock.annotation.clone(),
            clock,
            last_daemonset: Arc::new(Mutex::new(None)),
            legacy_eviction: Arc::new(AtomicBool::new(false)),
            access: Access::default(),
            gate_denied: Arc::new(AtomicBool::new(false)),
            wanted: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Uses (and records into) `access`, for example one whose gauge is registered.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> KubeCluster {
        self.access = access;
        self
    }

    /// What is known of the daemon's permissions.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Asks the API server once, with a SelfSubjectAccessReview each (which every
    /// authenticated user may create), whether the daemon has the rights it uses beyond
    /// kured's; each missing one is reported now rather than at its first 403. A review that
    /// fails leaves the permission unknown (assumed granted until a 403).
    pub async fn probe_access(&self) {
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        for p in PERMISSIONS {
            let (namespace, name) = match p {
                Permission::ListDaemonSet | Permission::WatchDaemonSet => (
                    Some(self.daemonsets_namespace()),
                    Some(self.ds_name.clone()),
                ),
                Permission::CreateEvents => (Some(NODE_EVENT_NAMESPACE.to_owned()), None),
                Permission::ListNodes | Permission::WatchNodes => (None, None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(p.verb().to_owned()),
                        group: Some(p.group().to_owned()),
                        resource: Some(p.resource().to_owned()),
                        namespace,
                        name,
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            match api.create(&PostParams::default(), &review).await {
                Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {
                    self.access.grant(p);
                }
                Ok(_) => {
                    self.access.deny(p);
                }
                Err(error) => {
                    tracing::debug!(
                        verb = p.verb(),
                        resource = p.resource(),
                        %error,
                        "cannot review the permission; assuming it until a 403"
                    );
                }
            }
        }
        self.access.log_granted();
    }

    fn daemonsets_namespace(&self) -> String {
        self.daemonsets.namespace().unwrap_or_default().to_owned()
    }

    /// Starts from a DaemonSet read elsewhere (the admin commands' first GET), so a lock write
    /// at its resourceVersion is one replace without another read.
    pub fn seed(&self, ds: DynamicObject) {
        self.remember(Some(ds));
    }

    fn remember(&self, ds: Option<DynamicObject>) {
        if let Ok(mut last) = self.last_daemonset.lock() {
            *last = ds;
        }
    }

    fn remembered(&self, version: &ResourceVersion) -> Option<DynamicObject> {
        let last = self.last_daemonset.lock().ok()?;
        last.as_ref()
            .filter(|ds| ds.metadata.resource_version.as_deref() == Some(version.0.as_str()))
            .cloned()
    }

    async fn get_daemonset(&self) -> ClusterResult<DynamicObject> {
        let ds = self
            .daemonsets
            .get(&self.ds_name)
            .await
            .map_err(|e| cluster_error("DaemonSet", &self.ds_name, &e))?;
        self.remember(Some(ds.clone()));
        Ok(ds)
    }

    async fn daemonset_changed(&self, seen: &ResourceVersion) {
        if !self.access.denied(Permission::ListDaemonSet)
            && !self.access.denied(Permission::WatchDaemonSet)
            && self.watch_daemonset(seen).await == Watched::Changed
        {
            return;
        }
        self.poll_daemonset(seen).await;
    }

    /// Watches the DaemonSet until its version differs from `seen`, or until the watch is
    /// forbidden (the denial is recorded).
    async fn watch_daemonset(&self, seen: &ResourceVersion) -> Watched {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.ds_name));
        let stream = watcher(self.daemonsets.clone(), config)
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(ds) if ds.metadata.resource_version.as_deref() != Some(seen.0.as_str()) => {
                    return Watched::Changed;
                }
                Ok(_) => {}
                Err(error) => {
                    if let Some(p) = forbidden_watch(
                        &error,
                        Permission::ListDaemonSet,
                        Permission::WatchDaemonSet,
                    ) {
                        self.access.deny(p);
                        return Watched::Forbidden;
                    }
                }
            }
        }
        std::future::pending::<Watched>().await
    }

    /// Reads the DaemonSet every [`LOCK_POLL`] until its version differs from `seen`. The
    /// reads are served from the API server's cache (`resourceVersion=0`), which is cheap for
    /// many waiting nodes and at most a moment behind; the turn that follows reads it afresh.
    async fn poll_daemonset(&self, seen: &ResourceVersion) {
        loop {
            self.clock.sleep(LOCK_POLL).await;
            match self
                .daemonsets
                .get_with(&self.ds_name, &GetParams::any())
                .await
            {
                Ok(ds) if ds.metadata.resource_version.as_deref() != Some(seen.0.as_str()) => {
                    return;
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "cannot read the lock; trying again"),
            }
        }
    }

    async fn node_set_changed(&self, seen: &ResourceVersion) {
        if !self.access.denied(Permission::ListNodes)
            && !self.access.denied(Permission::WatchNodes)
            && self.watch_node_set(seen).await == Watched::Changed
        {
            return;
        }
        self.poll_node_set(seen).await;
    }

    /// Looks at the Nodes every [`NODE_POLL`] until the set differs from `seen`: a list when
    /// Nodes may be listed (but not watched), otherwise the Nodes last asked for, by name.
    /// Nothing to list and nothing asked for: never completes.
    async fn poll_node_set(&self, seen: &ResourceVersion) {
        let wanted = self.wanted.lock().map(|w| w.clone()).unwrap_or_default();
        if wanted.is_empty() && self.access.denied(Permission::ListNodes) {
            return std::future::pending().await;
        }
        loop {
            self.clock.sleep(NODE_POLL).await;
            if let Ok(nodes) = self.list_nodes(&wanted).await
                && nodes.set_version != *seen
            {
                return;
            }
        }
    }

    /// The Nodes among `names` that exist, read one by one.
    async fn nodes_named(&self, names: &[String]) -> ClusterResult<Vec<Node>> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            if let Some(node) = self.get_node(name).await? {
                found.push(node);
            }
        }
        Ok(found)
    }

    /// Watches the Nodes' metadata until the set of names differs from `seen`, or until the
    /// watch is forbidden (the denial is recorded).
    async fn watch_node_set(&self, seen: &ResourceVersion) -> Watched {
        let api: Api<PartialObjectMeta<core::Node>> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut names = BTreeSet::new();
        let mut initial = BTreeSet::new();
        let mut synced = false;
        loop {
            let event = match stream.try_next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => {
                    if let Some(p) =
                        forbidden_watch(&error, Permission::ListNodes, Permission::WatchNodes)
                    {
                        self.access.deny(p);
                        return Watched::Forbidden;
                    }
                    continue;
                }
            };
            match event {
                watcher::Event::Init => initial.clear(),
                watcher::Event::InitApply(meta) => {
                    initial.insert(meta.metadata.name.unwrap_or_default());
                }
                watcher::Event::InitDone => {
                    names = std::mem::take(&mut initial);
                    synced = true;
                }
                watcher::Event::Apply(meta) => {
                    names.insert(meta.metadata.name.unwrap_or_default());
                }
                watcher::Event::Delete(meta) => {
                    names.remove(&meta.metadata.name.unwrap_or_default());
                }
            }
            if synced && node_set_version(names.iter().map(String::as_str)) != *seen {
                return Watched::Changed;
            }
        }
        // The stream only ends if the watcher gives up, which it does not with a back-off;
        // never complete on our own (the caller's deadline still applies).
        std::future::pending::<Watched>().await
    }
}

impl Cluster for KubeCluster {
    async fn read_lock(&self) -> ClusterResult<LockRead> {
        let ds = self.get_daemonset().await?;
        Ok(LockRead {
            value: ds
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(&self.annotation))
                .cloned(),
            version: ResourceVersion(ds.metadata.resource_version.unwrap_or_default()),
        })
    }

    async fn write_lock(
        &self,
        value: Option<String>,
        expected: &ResourceVersion,
    ) -> ClusterResult<ResourceVersion> {
        let mut ds = match self.remembered(expected) {
            Some(ds) => ds,
            None => {
                let ds = self.get_daemonset().await?;
                if ds.metadata.resource_version.as_deref() != Some(expected.0.as_str()) {
                    return Err(ClusterError::Conflict);
                }
                ds
            }
        };
        let annotations = ds.metadata.annotations.get_or_insert_with(Default::default);
        match value {
            Some(v) => annotations.insert(self.annotation.clone(), v),
            None => annotations.remove(&self.annotation),
        };
        match self
            .daemonsets
            .replace(&self.ds_name, &PostParams::default(), &ds)
            .await
        {
            Ok(written) => {
                let version = ResourceVersion(
                    written
                        .metadata
                        .resource_version
                        .clone()
                        .unwrap_or_default(),
                );
                self.remember(Some(written));
                Ok(version)
            }
            Err(e) => {
                self.remember(None);
                Err(cluster_error("DaemonSet", &self.ds_name, &e))
            }
        }
    }

    async fn wait_for_change(&self, seen: &Seen) {
        // Biased: when both poll at the same instant, their reads go out in a fixed order.
        tokio::select! {
            biased;
            () = self.daemonset_changed(&seen.lock) => {}
            () = self.node_set_changed(&seen.node_set) => {}
        }
    }

    async fn get_node(&self, name: &str) -> ClusterResult<Option<Node>> {
        match self.nodes.get(name).await {
            Ok(node) => Ok(Some(node_from(node))),
            Err(e) if classify(&e) == ApiFailure::NotFound => Ok(None),
            Err(e) => Err(cluster_error("Node", name, &e)),
        }
    }

    async fn list_nodes(&self, wanted: &[String]) -> ClusterResult<NodeList> {
        let nodes = if self.access.denied(Permission::ListNodes) {
            self.by_name(wanted).await?
        } else {
            match self.nodes.list(&ListParams::default()).await {
                Ok(list) => list.items.into_iter().map(node_from).collect(),
                Err(e) if is_forbidden(&e) => {
                    self.access.deny(Permission::ListNodes);
                    self.by_name(wanted).await?
                }
                Err(e) => return Err(cluster_error("Node", "*", &e)),
            }
        };
        let set_version = node_set_version(nodes.iter().map(|n| n.name.as_str()));
        Ok(NodeList { nodes, set_version })
    }

    async fn cordon(&self, node: &str) -> ClusterResult<()> {
        self.merge_patch(node, &cordon_patch(true)).await
    }

    async fn uncordon(&self, node: &str) -> ClusterResult<()> {
        self.merge_patch(node, &cordon_patch(false)).await
    }

    async fn patch_node(&self, node: &str, patch: &NodePatch) -> ClusterResult<()> {
        let mut body = metadata_patch(patch);
        if let Some((key, present)) = &patch.prefer_no_schedule_taint {
            let current = self
                .nodes
                .get(node)
                .await
                .map_err(|e| cluster_error("Node", node, &e))?;
            let version = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            let mut taints = current.spec.and_then(|s| s.taints).unwrap_or_default();
            taints.retain(|t| !(t.key == *key && t.effect == PREFER_NO_SCHEDULE));
            if *present {
                taints.push(core::Taint {
                    key: key.clone(),
                    effect: PREFER_NO_SCHEDULE.to_owned(),
                    ..core::Taint::default()
                });
            }
            body["metadata"]["resourceVersion"] = json!(version);
            body["spec"] = json!({ "taints": taints });
        }
        self.merge_patch(node, &body).await
    }

    async fn list_pods(&self, node: &str) -> ClusterResult<Vec<Pod>> {
        let pods: Api<core::Pod> = Api::all(self.client.clone());
        let list = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
            .map_err(|e| cluster_error("Pod", "*", &e))?;
        Ok(list.items.into_iter().map(pod_from).collect())
    }

    async fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> ClusterResult<Eviction> {
        let pods: Api<core::Pod> = Api::namespaced(self.client.clone(), namespace);
        let send = |version: &'static str| {
            let body = eviction_body(version, namespace, name, grace_period_seconds);
            let pods = pods.clone();
            async move {
                pods.create_subresource::<Value, Value>(
                    "eviction",
                    name,
                    &PostParams::default(),
                    &body,
                )
                .await
            }
        };
        let mut sent = if self.legacy_eviction.load(Ordering::Relaxed) {
            send(EVICTION_V1BETA1).await
        } else {
            send(EVICTION_V1).await
        };
        if let Err(e) = &sent
            && eviction_version_unknown(e)
        {
            tracing::info!(
                "the API server predates policy/v1 Evictions; evicting with policy/v1beta1"
            );
            self.legacy_eviction.store(true, Ordering::Relaxed);
            sent = send(EVICTION_V1BETA1).await;
        }
        match sent {
            Ok(_) => Ok(Eviction::Evicted),
            Err(e) => match classify(&e) {
                ApiFailure::NotFound => Ok(Eviction::Gone),
                ApiFailure::TooManyRequests => Ok(Eviction::Blocked(message(&e))),
                _ => Err(cluster_error("Pod", &format!("{namespace}/{name}"), &e)),
            },
        }
    }

    async fn workload_health(&self, workload: &Workload) -> ClusterResult<WorkloadHealth> {
        let Some((kind, name)) = workload.controller.split_once('/') else {
            return Ok(WorkloadHealth::Unknown(format!(
                "controller {:?} is not KIND/NAME",
                workload.controller
            )));
        };
        if !GATED_KINDS.contains(&kind) {
            return Ok(WorkloadHealth::Unknown(format!("{kind} is not gated")));
        }
        let ns = workload.namespace.as_str();
        let replicas = match self.controller(ns, kind, name).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(WorkloadHealth::Gone),
            Err(e) if is_forbidden(&e) => return Ok(self.gate_forbidden(kind)),
            Err(e) => return Err(cluster_error("workload", &workload.to_string(), &e)),
        };
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), ns);
        let budgets = match pdbs.list(&ListParams::default()).await {
            Ok(list) => budgets_over(&list.items, &replicas.labels),
            // An API server before 1.21 serves budgets as policy/v1beta1 only.
            Err(e) if classify(&e) == ApiFailure::NotFound => {
                match self.legacy_budgets(ns, &replicas.labels).await {
                    Ok(budgets) => budgets,
                    Err(e) if is_forbidden(&e) => {
                        self.gate_forbidden("PodDisruptionBudget");
                        Vec::new()
                    }
                    Err(e) => return Err(cluster_error("PodDisruptionBudget", ns, &e)),
                }
            }
            // Without the right to list budgets, the replicas alone decide.
            Err(e) if is_forbidden(&e) => {
                self.gate_forbidden("PodDisruptionBudget");
                Vec::new()
            }
            Err(e) => return Err(cluster_error("PodDisruptionBudget", ns, &e)),
        };
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(WorkloadHealth::Observed {
            desired: count(replicas.desired),
            ready: count(replicas.ready),
            budgets,
        })
    }

    async fn emit_event(&self, event: Event) -> ClusterResult<()> {
        if self.access.denied(Permission::CreateEvents) {
            return Ok(());
        }
        let event = NodeEvent {
            node: event.node,
            type_: match event.kind {
                EventKind::Normal => "Normal".to_owned(),
                EventKind::Warning => "Warning".to_owned(),
            },
            reason: event.reason,
            message: event.message,
            component: EVENT_COMPONENT.to_owned(),
        };
        match drydock_kube::events::publish(&self.client, &event, self.clock.now()).await {
            Ok(()) => Ok(()),
            Err(drydock_kube::Error::Api(e)) if is_forbidden(&e) => {
                self.access.deny(Permission::CreateEvents);
                Ok(())
            }
            Err(e) => Err(ClusterError::Transient(e.to_string())),
        }
    }
}

impl KubeCluster {
    /// A 403 on a health-gate read: reported once; the gate then does not wait for it, as
    /// kured would not (kured's chart grants no read of workloads or budgets).
    fn gate_forbidden(&self, what: &str) -> WorkloadHealth {
        if !self.gate_denied.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                what,
                "the health gate may not read workloads or PodDisruptionBudgets (grant get on \
                 deployments, replicasets, statefulsets and list on poddisruptionbudgets); \
                 handing the lock on without waiting for them"
            );
        }
        WorkloadHealth::Unknown(format!("{what}: forbidden"))
    }

    /// The policy/v1beta1 budgets of `namespace` over pods with `labels` (the fields the gate
    /// reads are the same as in policy/v1).
    async fn legacy_budgets(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<i32>, kube::Error> {
        let resource = ApiResource {
            group: "policy".into(),
            version: "v1beta1".into(),
            api_version: "policy/v1beta1".into(),
            kind: "PodDisruptionBudget".into(),
            plural: "poddisruptionbudgets".into(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let list = api.list(&ListParams::default()).await?;
        let budgets: Vec<PodDisruptionBudget> = list
            .items
            .into_iter()
            .filter_map(|o| {
                let mut value = serde_json::to_value(o).ok()?;
                // Read as policy/v1, whose typed form checks apiVersion and kind.
                value["apiVersion"] = json!("policy/v1");
                value["kind"] = json!("PodDisruptionBudget");
                serde_json::from_value(value).ok()
            })
            .collect();
        Ok(budgets_over(&budgets, labels))
    }

    /// A controller's replicas and pod template labels (`None`: it does not exist).
    async fn controller(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Replicas>, kube::Error> {
        let client = self.client.clone();
        Ok(match kind {
            "ReplicaSet" => Api::<ReplicaSet>::namespaced(client, namespace)
                .get_opt(name)
                .await?
                .map(|rs| {
                    let spec = rs.spec.unwrap_or_default();
                    let labels = spec.template.and_then(|t| t.metadata?.labels);
                    Replicas::new(
                        spec.replicas,
                        rs.status.and_then(|s| s.ready_replicas),
                        labels,
                    )
                }),
            "StatefulSet" => Api::<StatefulSet>::namespaced(client, namespace)
                .get_opt(name)
                .await?
                .map(|sts| {
                    let spec = sts.spec.unwrap_or_default();
                    let labels = spec.template.metadata.and_then(|m| m.labels);
                    Replicas::new(
                        spec.replicas,
                        sts.status.and_then(|s| s.ready_replicas),
                        labels,
                    )
                }),
            "Deployment" => Api::<Deployment>::namespaced(client, namespace)
                .get_opt(name)
                .await?
                .map(|d| {
                    let spec = d.spec.unwrap_or_default();
                    let labels = spec.template.metadata.and_then(|m| m.labels);
                    Replicas::new(
                        spec.replicas,
                        d.status.and_then(|s| s.ready_replicas),
                        labels,
                    )
                }),
            _ => None,
        })
    }

    /// The Nodes among `names` that exist, remembered as the ones a wait reads.
    async fn by_name(&self, names: &[String]) -> ClusterResult<Vec<Node>> {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        if let Ok(mut wanted) = self.wanted.lock() {
            wanted.clone_from(&names);
        }
        self.nodes_named(&names).await
    }

    async fn merge_patch(&self, node: &str, body: &Value) -> ClusterResult<()> {
        self.nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(body))
            .await
            .map_err(|e| cluster_error("Node", node, &e))?;
        Ok(())
    }
}

/// The Eviction version of Kubernetes 1.22 and later.
pub const EVICTION_V1: &str = "policy/v1";
/// The Eviction version API servers before 1.22 accept (served until 1.25).
pub const EVICTION_V1BETA1: &str = "policy/v1beta1";
/// HTTP 400, with which an API server refuses an Eviction version it does not know.
const BAD_REQUEST: u16 = 400;

/// Whether the API server refused the Eviction for its version (a server before 1.22: "no kind
/// \"Eviction\" is registered for version \"policy/v1\"").
#[must_use]
pub fn eviction_version_unknown(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == BAD_REQUEST && status.message.contains(EVICTION_V1))
}

/// The Eviction (in `api_version`) for a pod. Written here rather than with `Api::evict`, because
/// kube 5.0.0 sends the delete options as `delete_options` (not `deleteOptions`), so the API
/// server would ignore `--drain-grace-period`.
pub fn eviction_body(
    api_version: &str,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<u32>,
) -> Value {
    let mut eviction = json!({
        "apiVersion": api_version,
        "kind": "Eviction",
        "metadata": { "name": name, "namespace": namespace },
    });
    if let Some(seconds) = grace_period_seconds {
        eviction["deleteOptions"] = json!({ "gracePeriodSeconds": seconds });
    }
    eviction
}

/// The node-set token: the sorted Node names, so it changes exactly when a Node is added or
/// deleted.
pub fn node_set_version<'a>(names: impl IntoIterator<Item = &'a str>) -> ResourceVersion {
    let names: BTreeSet<&str> = names.into_iter().collect();
    ResourceVersion(names.into_iter().collect::<Vec<_>>().join(","))
}

/// The cordon (or uncordon) with the ownership annotation, as one merge patch.
pub fn cordon_patch(cordon: bool) -> Value {
    let marker = if cordon { json!("true") } else { Value::Null };
    json!({
        "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: marker } },
        "spec": { "unschedulable": cordon },
    })
}

/// The metadata half of a [`NodePatch`]: annotations set or removed (`null`), labels set.
pub fn metadata_patch(patch: &NodePatch) -> Value {
    let mut metadata = Map::new();
    if !patch.annotations.is_empty() {
        let annotations: Map<String, Value> = patch
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    if !patch.labels.is_empty() {
        let labels: Map<String, Value> = patch
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        metadata.insert("labels".into(), Value::Object(labels));
    }
    json!({ "metadata": metadata })
}

/// How a watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watched {
    /// What was watched differs from what the caller saw.
    Changed,
    /// The API server refused the watch (403): poll instead.
    Forbidden,
}

/// The permission a failed watch lacked, if it failed with a 403: `list` when its initial list
/// was refused, `watch` when the watch itself was.
fn forbidden_watch(
    error: &watcher::Error,
    list: Permission,
    watch: Permission,
) -> Option<Permission> {
    match error {
        watcher::Error::InitialListFailed(e) if is_forbidden(e) => Some(list),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) if is_forbidden(e) => {
            Some(watch)
        }
        watcher::Error::WatchError(status) if status.code == FORBIDDEN => Some(watch),
        _ => None,
    }
}

fn cluster_error(kind: &'static str, name: &str, error: &kube::Error) -> ClusterError {
    match classify(error) {
        ApiFailure::Conflict => ClusterError::Conflict,
        ApiFailure::NotFound => ClusterError::NotFound {
            kind,
            name: name.to_owned(),
        },
        ApiFailure::TooManyRequests | ApiFailure::Other => {
            ClusterError::Transient(format!("{kind} {name}: {error}"))
        }
    }
}

/// The controllers the health gate reads (a Job's pods or a custom controller's are not
/// waited for).
pub const GATED_KINDS: [&str; 3] = ["ReplicaSet", "StatefulSet", "Deployment"];

/// `spec.replicas` when unset, as the API server defaults it.
const DEFAULT_REPLICAS: i32 = 1;

/// A controller's replica counts and the labels its pods get.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Replicas {
    desired: i32,
    ready: i32,
    labels: std::collections::BTreeMap<String, String>,
}

impl Replicas {
    /// From a controller's `spec.replicas`, `status.readyReplicas` and pod template labels, with
    /// the API server's defaults for what is unset.
    fn new(
        desired: Option<i32>,
        ready: Option<i32>,
        labels: Option<std::collections::BTreeMap<String, String>>,
    ) -> Self {
        Self {
            desired: desired.unwrap_or(DEFAULT_REPLICAS),
            ready: ready.unwrap_or(0),
            labels: labels.unwrap_or_default(),
        }
    }
}

/// `status.disruptionsAllowed` of each budget whose selector selects pods with `labels`.
pub fn budgets_over(
    budgets: &[PodDisruptionBudget],
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<i32> {
    budgets
        .iter()
        .filter(|b| {
            b.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|sel| selector_selects(sel, labels))
        })
        .map(|b| b.status.as_ref().map_or(0, |s| s.disruptions_allowed))
        .collect()
}

/// Whether a metav1 label selector selects `labels` (policy/v1: an empty selector selects
/// every pod; an unknown operator selects none).
pub fn selector_selects(
    selector: &KubeSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let exact = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    exact && expressions
}

/// What the daemon reads from a Node.
pub fn node_from(node: core::Node) -> Node {
    let spec = node.spec.unwrap_or_default();
    let status = node.status.unwrap_or_default();
    Node {
        name: node.metadata.name.unwrap_or_default(),
        unschedulable: spec.unschedulable.unwrap_or(false),
        labels: node.metadata.labels.unwrap_or_default(),
        annotations: node.metadata.annotations.unwrap_or_default(),
        taints: spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| Taint {
                key: t.key,
                effect: t.effect,
            })
            .collect(),
        boot_id: status.node_info.map(|i| i.boot_id).unwrap_or_default(),
        ready: status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
    }
}

/// What the daemon reads from a pod.
pub fn pod_from(pod: core::Pod) -> Pod {
    let meta = pod.metadata;
    let owner = meta
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.controller == Some(true))
        .map_or(Owner::None, |o| match o.kind.as_str() {
            "DaemonSet" => Owner::DaemonSet,
            _ => Owner::Other(format!("{}/{}", o.kind, o.name)),
        });
    let annotations = meta.annotations.unwrap_or_default();
    let phase = match pod.status.and_then(|s| s.phase).as_deref() {
        Some("Pending") => PodPhase::Pending,
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        _ => PodPhase::Unknown,
    };
    Pod {
        namespace: meta.namespace.unwrap_or_default(),
        name: meta.name.unwrap_or_default(),
        uid: meta.uid.unwrap_or_default(),
        labels: meta.labels.unwrap_or_default(),
        owner,
        mirror: annotations.contains_key(MIRROR_POD_ANNOTATION),
        phase,
        terminating: meta.deletion_timestamp.is_some(),
    }
}

#[cfg(test)]
mod tests;
