//! Builders for the manager's unit tests: Nodes and worker pods as the API serves them, and as
//! the caches hold them ([`from_api`]).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Node, NodeCondition, NodeStatus,
    Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::manager::cached::{CachedNode, WorkerPod, from_api};

/// A Node named `name` with `labels` (none: no label map) and a `Ready` condition `True` or
/// `False` (`None`: no status at all).
pub(crate) fn api_node(name: &str, labels: &[(&str, &str)], ready: Option<bool>) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
            ..ObjectMeta::default()
        },
        status: ready.map(|ready| NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

/// [`api_node`] as the Node cache holds it.
pub(crate) fn node(name: &str, labels: &[(&str, &str)], ready: Option<bool>) -> CachedNode {
    from_api(&api_node(name, labels, ready))
}

/// A worker pod bound to `node`, created at `created`, in `phase`; `terminated` lists its
/// containers that ended as (name, exit code, termination message).
pub(crate) fn api_worker_pod(
    node: &str,
    phase: &str,
    created: Timestamp,
    terminated: &[(&str, i32, Option<&str>)],
) -> Pod {
    Pod {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time(created)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            container_statuses: Some(
                terminated
                    .iter()
                    .map(|(name, code, message)| ContainerStatus {
                        name: (*name).into(),
                        state: Some(ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: *code,
                                message: message.map(str::to_owned),
                                ..ContainerStateTerminated::default()
                            }),
                            ..ContainerState::default()
                        }),
                        ..ContainerStatus::default()
                    })
                    .collect(),
            ),
            ..PodStatus::default()
        }),
    }
}

/// [`api_worker_pod`] as the pod cache holds it.
pub(crate) fn worker_pod(
    node: &str,
    phase: &str,
    created: Timestamp,
    terminated: &[(&str, i32, Option<&str>)],
) -> WorkerPod {
    from_api(&api_worker_pod(node, phase, created, terminated))
}
