//! What the manager's caches keep of a Node and of a worker Pod: only what planning
//! ([`crate::manager::plan`]) and folding ([`crate::manager::fold`]) read, decoded straight from the API
//! server's JSON.
//!
//! A k8s-openapi `Pod` is 2,176 bytes inline and a `Node` 1,496 whatever is `None`, plus every
//! label, owner reference and status field on the heap: some 4 KiB per cached pod and 2.5 KiB
//! per node, 30 MiB for 5,000 of each — the Eraser chart's whole limit for the manager. These
//! types deserialize from the same list and watch responses (serde skips every other field, so
//! the big structs never exist, not even for a moment) and implement [`kube::Resource`] under
//! the `Pod` and `Node` kinds, so kube's watcher and reflector store them as they are.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use drydock_api::names::containers;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::Deserialize;

use crate::manager::podspec::JOB_NAME_LABEL;

/// A Node as the manager caches it: name, uid and resource version, the labels the node filter
/// reads ([`CachedNode::keep_labels`]) and the Ready condition.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "wire::Node")]
pub struct CachedNode {
    /// Name, uid, resource version and the kept labels; nothing else.
    pub metadata: ObjectMeta,
    /// The `Ready` condition; `None` when the node reports none.
    pub ready: Option<Readiness>,
}

/// A node's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Its status is `True`.
    pub ready: bool,
    /// When it last changed, when known.
    pub since: Option<Timestamp>,
}

// === impl CachedNode ===

impl CachedNode {
    /// The node's name.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref()
    }

    /// Drops every label whose key is not in `keep` (the node filter's keys, from
    /// [`crate::manager::plan::label_keys`]): 30 or so labels on a cloud node, of which planning reads a
    /// few.
    pub fn keep_labels(&mut self, keep: &BTreeSet<String>) {
        let labels = self.metadata.labels.take().unwrap_or_default();
        let kept: BTreeMap<String, String> = labels
            .into_iter()
            .filter(|(key, _)| keep.contains(key))
            .collect();
        self.metadata.labels = (!kept.is_empty()).then_some(kept);
    }
}

/// A worker pod as the manager caches it: identity and times, its job, node and phase, and the
/// containers that ended in a way folding reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "wire::Pod")]
pub struct WorkerPod {
    /// Name, namespace, uid, resource version, creation and deletion times; nothing else.
    pub metadata: ObjectMeta,
    /// Its job (the `drydock.dev/imagejob` label).
    pub job: Option<String>,
    /// The node it is bound to (`spec.nodeName`).
    pub node: Option<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `status.reason`.
    pub reason: Option<String>,
    /// In status order: the remover once it terminated, the scanner once it succeeded with a
    /// message (its in-use report), and every container that exited non-zero.
    pub ended: Vec<Ended>,
}

/// A terminated container of a worker pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The container's name.
    pub container: String,
    /// Its exit code.
    pub exit_code: i32,
    /// Its termination message, kept for the remover (its summary) and a successful scanner
    /// (the in-use report, [`crate::vulnreport::NodeReport`]) only.
    pub message: Option<String>,
}

/// Implements [`kube::Resource`] for a cached type under the kind of its k8s-openapi type.
macro_rules! resource_as {
    ($cached:ty, $api:ty, $scope:ty) => {
        impl kube::Resource for $cached {
            type DynamicType = ();
            type Scope = $scope;

            fn kind((): &()) -> Cow<'_, str> {
                Cow::Borrowed(<$api as k8s_openapi::Resource>::KIND)
            }

            fn group((): &()) -> Cow<'_, str> {
                Cow::Borrowed(<$api as k8s_openapi::Resource>::GROUP)
            }

            fn version((): &()) -> Cow<'_, str> {
                Cow::Borrowed(<$api as k8s_openapi::Resource>::VERSION)
            }

            fn api_version((): &()) -> Cow<'_, str> {
                Cow::Borrowed(<$api as k8s_openapi::Resource>::API_VERSION)
            }

            fn plural((): &()) -> Cow<'_, str> {
                Cow::Borrowed(<$api as k8s_openapi::Resource>::URL_PATH_SEGMENT)
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource_as!(CachedNode, Node, ClusterResourceScope);
resource_as!(WorkerPod, Pod, NamespaceResourceScope);

/// The JSON shapes read, with only the fields kept.
mod wire {
    use std::collections::BTreeMap;

    use super::{Deserialize, Ended, JOB_NAME_LABEL, ObjectMeta, Readiness, Time, containers};

    /// The metadata fields kept.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
    }

    impl Meta {
        /// The kept fields as `ObjectMeta`, and the labels apart.
        fn split(self) -> (ObjectMeta, Option<BTreeMap<String, String>>) {
            let metadata = ObjectMeta {
                name: self.name,
                namespace: self.namespace,
                uid: self.uid,
                resource_version: self.resource_version,
                creation_timestamp: self.creation_timestamp,
                deletion_timestamp: self.deletion_timestamp,
                ..ObjectMeta::default()
            };
            (metadata, self.labels)
        }
    }

    #[derive(Deserialize)]
    pub struct Node {
        metadata: Meta,
        status: Option<NodeStatus>,
    }

    #[derive(Deserialize)]
    struct NodeStatus {
        conditions: Option<Vec<Condition>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Condition {
        #[serde(rename = "type")]
        type_: String,
        status: String,
        last_transition_time: Option<Time>,
    }

    impl From<Node> for super::CachedNode {
        fn from(node: Node) -> Self {
            let (mut metadata, labels) = node.metadata.split();
            metadata.labels = labels;
            let ready = node
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| Readiness {
                    ready: c.status == "True",
                    since: c.last_transition_time.map(|t| t.0),
                });
            Self { metadata, ready }
        }
    }

    #[derive(Deserialize)]
    pub struct Pod {
        metadata: Meta,
        spec: Option<PodSpec>,
        status: Option<PodStatus>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PodSpec {
        node_name: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PodStatus {
        phase: Option<String>,
        reason: Option<String>,
        container_statuses: Option<Vec<ContainerStatus>>,
    }

    #[derive(Deserialize)]
    struct ContainerStatus {
        name: String,
        state: Option<ContainerState>,
    }

    #[derive(Deserialize)]
    struct ContainerState {
        terminated: Option<Terminated>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Terminated {
        exit_code: i32,
        message: Option<String>,
    }

    impl From<Pod> for super::WorkerPod {
        fn from(pod: Pod) -> Self {
            let (metadata, labels) = pod.metadata.split();
            let job = labels.and_then(|mut labels| labels.remove(JOB_NAME_LABEL));
            let (phase, reason, statuses) = match pod.status {
                Some(s) => (s.phase, s.reason, s.container_statuses.unwrap_or_default()),
                None => (None, None, Vec::new()),
            };
            let ended = statuses
                .into_iter()
                .filter_map(|c| {
                    let terminated = c.state?.terminated?;
                    let remover = c.name == containers::REMOVER;
                    // A scanner writes a message only with the in-use report on (up to 4 KiB
                    // per node while the job's pods exist).
                    let report = c.name == containers::TRIVY_SCANNER
                        && terminated.exit_code == 0
                        && terminated.message.as_ref().is_some_and(|m| !m.is_empty());
                    (remover || report || terminated.exit_code != 0).then(|| Ended {
                        exit_code: terminated.exit_code,
                        message: terminated.message.filter(|_| remover || report),
                        container: c.name,
                    })
                })
                .collect();
            Self {
                metadata,
                job,
                node: pod.spec.and_then(|s| s.node_name),
                phase,
                reason,
                ended,
            }
        }
    }
}

/// Decodes an API object (a k8s-openapi value) as the caches would receive it (tests).
#[cfg(test)]
pub(crate) fn from_api<T: serde::de::DeserializeOwned>(object: &impl serde::Serialize) -> T {
    let json = serde_json::to_value(object).expect("an API object serializes");
    serde_json::from_value(json).expect("the cached type decodes it")
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_full_node_keeps_its_identity_the_labels_planning_reads_and_readiness() {
        let mut node: CachedNode = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": "a", "uid": "u1", "resourceVersion": "7",
                "labels": {"pool": "gpu", "zone": "1", "kubernetes.io/os": "linux"},
                "annotations": {"big": "x".repeat(1000)},
                "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
            },
            "spec": {"podCIDR": "10.0.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"},
                ],
                "images": [{"names": ["docker.io/library/alpine:3"], "sizeBytes": 1}],
            },
        }))
        .unwrap();
        node.keep_labels(&BTreeSet::from([
            "pool".to_owned(),
            "kubernetes.io/os".to_owned(),
        ]));
        assert_eq!(node.name(), Some("a"));
        assert_eq!(node.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(node.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(
            node.metadata.labels,
            Some(BTreeMap::from([
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                ("pool".to_owned(), "gpu".to_owned()),
            ]))
        );
        assert!(node.metadata.annotations.is_none() && node.metadata.managed_fields.is_none());
        assert_eq!(
            node.ready,
            Some(Readiness {
                ready: true,
                since: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            })
        );
        node.keep_labels(&BTreeSet::new());
        assert_eq!(node.metadata.labels, None, "no empty map is kept");
    }

    #[test]
    fn a_node_without_status_or_conditions_has_no_readiness() {
        for body in [
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"name": "a"}, "status": {"conditions": null}}),
            json!({"metadata": {"name": "a"}, "status": {"conditions": [
                {"type": "DiskPressure", "status": "False"}]}}),
        ] {
            let node: CachedNode = serde_json::from_value(body).unwrap();
            assert_eq!(node.ready, None);
        }
        let node: CachedNode = serde_json::from_value(json!({"metadata": {"name": "b"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}))
        .unwrap();
        assert_eq!(
            node.ready,
            Some(Readiness {
                ready: false,
                since: None
            })
        );
    }

    #[test]
    fn a_full_worker_pod_keeps_its_job_node_phase_and_the_containers_folding_reads() {
        let pod: WorkerPod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "eraser-a-x1", "namespace": "ns", "uid": "p1", "resourceVersion": "9",
                "generateName": "eraser-a-",
                "labels": {JOB_NAME_LABEL: "imagejob-abcde", "eraser.sh/type": "collector"},
                "ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                                     "name": "imagejob-abcde", "uid": "j1"}],
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "deletionTimestamp": "2026-01-01T00:05:00Z",
            },
            "spec": {"nodeName": "a", "containers": [{"name": "collector", "image": "x"}]},
            "status": {
                "phase": "Failed", "reason": "Evicted",
                "containerStatuses": [
                    {"name": "collector", "state": {"terminated": {"exitCode": 0, "message": "m"}}},
                    {"name": "trivy-scanner", "state": {"terminated": {"exitCode": 137,
                        "reason": "OOMKilled", "message": "scanner said"}}},
                    {"name": containers::REMOVER, "state": {"terminated": {"exitCode": 0,
                        "message": "{\"removed\":1}"}}},
                    {"name": "other", "state": {"running": {}}},
                ],
            },
        }))
        .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("eraser-a-x1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("9"));
        assert!(pod.metadata.creation_timestamp.is_some());
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert!(pod.metadata.labels.is_none() && pod.metadata.owner_references.is_none());
        assert!(pod.metadata.generate_name.is_none());
        assert_eq!(pod.job.as_deref(), Some("imagejob-abcde"));
        assert_eq!(pod.node.as_deref(), Some("a"));
        assert_eq!(pod.phase.as_deref(), Some("Failed"));
        assert_eq!(pod.reason.as_deref(), Some("Evicted"));
        assert_eq!(
            pod.ended,
            vec![
                Ended {
                    container: "trivy-scanner".into(),
                    exit_code: 137,
                    message: None,
                },
                Ended {
                    container: containers::REMOVER.into(),
                    exit_code: 0,
                    message: Some("{\"removed\":1}".into()),
                },
            ]
        );
    }

    #[test]
    fn a_successful_scanners_message_is_kept_for_the_in_use_report() {
        let pod: WorkerPod = serde_json::from_value(json!({
            "metadata": {"name": "eraser-a-x1"},
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {"name": "collector", "state": {"terminated": {"exitCode": 0, "message": "m"}}},
                    {"name": "trivy-scanner", "state": {"terminated": {"exitCode": 0,
                        "message": "{\"inUseScanned\":0}"}}},
                ],
            },
        }))
        .unwrap();
        assert_eq!(
            pod.ended,
            vec![Ended {
                container: "trivy-scanner".into(),
                exit_code: 0,
                message: Some("{\"inUseScanned\":0}".into()),
            }]
        );
        let silent: WorkerPod = serde_json::from_value(json!({
            "metadata": {"name": "eraser-a-x1"},
            "status": {"containerStatuses": [
                {"name": "trivy-scanner", "state": {"terminated": {"exitCode": 0}}},
            ]},
        }))
        .unwrap();
        assert!(silent.ended.is_empty(), "{:?}", silent.ended);
    }

    #[test]
    fn a_new_pod_without_status_decodes_empty() {
        let pod: WorkerPod =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {}})).unwrap();
        assert_eq!(pod.phase, None);
        assert!(pod.ended.is_empty() && pod.job.is_none() && pod.node.is_none());
    }

    #[test]
    fn garbage_is_an_error_naming_the_field_not_a_panic() {
        let error = serde_json::from_value::<WorkerPod>(json!({"metadata": {"name": 3}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid type"), "{error}");
        let error = serde_json::from_value::<CachedNode>(json!({"metadata": {"name": "a"},
            "status": {"conditions": [{"type": "Ready"}]}}))
        .unwrap_err()
        .to_string();
        assert!(error.contains("status"), "{error}");
        assert!(serde_json::from_value::<CachedNode>(json!([])).is_err());
    }

    #[test]
    fn the_cached_types_address_the_pod_and_node_apis() {
        assert_eq!(
            WorkerPod::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
        assert_eq!(CachedNode::url_path(&(), None), "/api/v1/nodes");
        assert_eq!(
            (CachedNode::kind(&()), WorkerPod::api_version(&())),
            ("Node".into(), "v1".into())
        );
    }

    #[test]
    fn a_cached_pod_is_a_fraction_of_the_api_type() {
        // Inline sizes: the heap part shrinks likewise (no spec, no statuses, one label).
        assert!(
            std::mem::size_of::<WorkerPod>() * 3 < std::mem::size_of::<Pod>(),
            "{} vs {}",
            std::mem::size_of::<WorkerPod>(),
            std::mem::size_of::<Pod>()
        );
        assert!(std::mem::size_of::<CachedNode>() * 2 < std::mem::size_of::<Node>());
    }
}
