//! Pure status folding: from the job's planned nodes, its worker pods and the current nodes,
//! the outcome of every node and the ImageJob status.
//!
//! Fixes over Eraser: the success ratio is a float (Eraser's integer division made 272/273 a
//! failure, #1163); skipped nodes count as successes explicitly; a pod that never starts
//! (Pending, ContainerCreating, a NotReady node) or a node that vanished counts as failed after
//! a start timeout instead of keeping the job Running forever (#654, #911); a pod with a
//! container that exited non-zero is finished and failed even while others still run (#777).

use std::collections::HashMap;

use drydock_api::imagejob::{ImageJobStatus, JobPhase};
use drydock_api::names::containers;
use jiff::{SignedDuration, Timestamp};

use crate::manager::cached::{CachedNode, WorkerPod};
use crate::manager::plan::NodePlan;
use crate::report::Summary;

/// How long a worker pod may take to start running (or a planned pod to appear) before its node
/// counts as failed. Image pulls on a slow registry take minutes; Eraser waited five minutes
/// per pod (sequentially, blocking the manager).
pub const START_TIMEOUT: SignedDuration = SignedDuration::from_mins(10);

/// What happened on one node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOutcome {
    /// The pod finished successfully; the remover's summary when it left one.
    Succeeded(Option<Summary>),
    /// The pod failed, never started, or its node is gone.
    Failed(String),
    /// Still working (or not created yet, within the start timeout).
    InProgress,
}

/// The folded state of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// Per planned node.
    pub nodes: Vec<(String, NodeOutcome)>,
    /// The status to write.
    pub status: ImageJobStatus,
    /// (succeeded + skipped) / desired, as a float; 1.0 for an empty cluster.
    pub ratio: f64,
}

fn node_ready(node: &CachedNode) -> bool {
    node.ready.is_some_and(|r| r.ready)
}

/// When the node went NotReady, if it is not Ready (`None` inside: since an unknown time).
fn not_ready_since(node: &CachedNode) -> Option<Option<Timestamp>> {
    match node.ready {
        Some(r) if r.ready => None,
        Some(r) => Some(r.since),
        None => Some(None),
    }
}

fn age(since: Option<Timestamp>, now: Timestamp) -> SignedDuration {
    since.map_or(SignedDuration::ZERO, |t| now.duration_since(t))
}

/// The remover's termination-message summary, when the pod has one.
#[must_use]
pub fn remover_summary(pod: &WorkerPod) -> Option<Summary> {
    pod.ended
        .iter()
        .find(|c| c.container == containers::REMOVER)?
        .message
        .as_deref()
        .and_then(|message| serde_json::from_str(message).ok())
}

/// The scanner's in-use vulnerability report, when its termination message is one.
#[must_use]
pub fn scanner_report(pod: &WorkerPod) -> Option<crate::vulnreport::NodeReport> {
    pod.ended
        .iter()
        .find(|c| c.container == containers::TRIVY_SCANNER && c.exit_code == 0)?
        .message
        .as_deref()
        .and_then(crate::vulnreport::NodeReport::from_message)
}

/// The first container that terminated with a non-zero exit code, with its code.
fn failed_container(pod: &WorkerPod) -> Option<(String, i32)> {
    pod.ended
        .iter()
        .find(|c| c.exit_code != 0)
        .map(|c| (c.container.clone(), c.exit_code))
}

/// Folds one node.
fn fold_node(
    pod: Option<&WorkerPod>,
    node: Option<&CachedNode>,
    job_started: Timestamp,
    now: Timestamp,
) -> NodeOutcome {
    let timed_out = |since: Option<Timestamp>| age(since, now) > START_TIMEOUT;
    let Some(pod) = pod else {
        return match node {
            None => NodeOutcome::Failed("node no longer exists".to_owned()),
            Some(_) if timed_out(Some(job_started)) => {
                NodeOutcome::Failed("worker pod was never created".to_owned())
            }
            Some(_) => NodeOutcome::InProgress,
        };
    };
    let phase = pod.phase.as_deref().unwrap_or("Pending");
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    match phase {
        "Succeeded" => NodeOutcome::Succeeded(remover_summary(pod)),
        "Failed" => {
            let reason = pod.reason.clone();
            NodeOutcome::Failed(match (failed_container(pod), reason) {
                (Some((name, code)), _) => format!("container {name} exited with {code}"),
                (None, Some(reason)) => format!("pod failed: {reason}"),
                (None, None) => "pod failed".to_owned(),
            })
        }
        _ if node.is_none() => NodeOutcome::Failed("node no longer exists".to_owned()),
        "Running" => match failed_container(pod) {
            // A peer blocked on a pipe would keep the pod Running forever (Eraser #777).
            Some((name, code)) => {
                NodeOutcome::Failed(format!("container {name} exited with {code}"))
            }
            // A node that went NotReady under a running pod never reports it again, and the
            // pod tolerates every taint, so nothing evicts it: give up after the timeout.
            None => match node.and_then(not_ready_since) {
                Some(since) if timed_out(since.or(created)) => NodeOutcome::Failed(format!(
                    "node NotReady for more than {START_TIMEOUT:#} while the worker pod ran"
                )),
                _ => NodeOutcome::InProgress,
            },
        },
        _ if timed_out(created) => {
            let not_ready = node.is_some_and(|n| !node_ready(n));
            NodeOutcome::Failed(if not_ready {
                format!("node NotReady; worker pod did not start within {START_TIMEOUT:#}")
            } else {
                format!("worker pod did not start within {START_TIMEOUT:#}")
            })
        }
        _ => NodeOutcome::InProgress,
    }
}

/// Folds the whole job. `pods` are the job's own pods (listed by its label, not by type);
/// `pods` and `nodes` may come as slices or straight from reflector stores.
#[must_use]
pub fn fold<'a>(
    plan: &NodePlan,
    pods: impl IntoIterator<Item = &'a WorkerPod>,
    nodes: impl IntoIterator<Item = &'a CachedNode>,
    job_started: Timestamp,
    success_ratio: f64,
    now: Timestamp,
) -> Fold {
    let pods_by_node: HashMap<&str, &WorkerPod> = pods
        .into_iter()
        .filter_map(|p| Some((p.node.as_deref()?, p)))
        .collect();
    let nodes_by_name: HashMap<&str, &CachedNode> = nodes
        .into_iter()
        .filter_map(|n| Some((n.name()?, n)))
        .collect();
    let outcomes: Vec<(String, NodeOutcome)> = plan
        .targets
        .iter()
        .map(|name| {
            let outcome = fold_node(
                pods_by_node.get(name.as_str()).copied(),
                nodes_by_name.get(name.as_str()).copied(),
                job_started,
                now,
            );
            (name.clone(), outcome)
        })
        .collect();
    summarise(outcomes, plan, success_ratio)
}

/// `fold` with the nodes whose worker pod the API server refused to create (`refused`: node →
/// the server's reason) counted failed at once instead of waiting out the start timeout. A
/// node that has a pod after all keeps its pod's outcome.
#[must_use]
pub fn with_refused(
    fold: Fold,
    refused: &HashMap<String, String>,
    plan: &NodePlan,
    success_ratio: f64,
) -> Fold {
    if refused.is_empty() {
        return fold;
    }
    let outcomes = fold
        .nodes
        .into_iter()
        .map(|(node, outcome)| match (outcome, refused.get(&node)) {
            (NodeOutcome::InProgress, Some(reason)) => (
                node,
                NodeOutcome::Failed(format!("worker pod refused by the API server: {reason}")),
            ),
            (outcome, _) => (node, outcome),
        })
        .collect();
    summarise(outcomes, plan, success_ratio)
}

/// Counts, ratio and phase of per-node outcomes.
fn summarise(outcomes: Vec<(String, NodeOutcome)>, plan: &NodePlan, success_ratio: f64) -> Fold {
    let count =
        |wanted: fn(&NodeOutcome) -> bool| outcomes.iter().filter(|(_, o)| wanted(o)).count();
    let succeeded = count(|o| matches!(o, NodeOutcome::Succeeded(_)));
    let failed = count(|o| matches!(o, NodeOutcome::Failed(_)));
    let in_progress = count(|o| matches!(o, NodeOutcome::InProgress));
    let skipped = plan.skipped.len();
    let desired = plan.desired();
    #[allow(clippy::cast_precision_loss)] // node counts are far below 2^52
    let ratio = if desired == 0 {
        1.0
    } else {
        (succeeded + skipped) as f64 / desired as f64
    };
    let phase = if in_progress > 0 {
        JobPhase::Running
    } else if ratio >= success_ratio {
        JobPhase::Completed
    } else {
        JobPhase::Failed
    };
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    Fold {
        nodes: outcomes,
        status: ImageJobStatus {
            failed: as_i64(failed),
            succeeded: as_i64(succeeded),
            desired: as_i64(desired),
            skipped: as_i64(skipped),
            phase,
            delete_after: None,
        },
        ratio,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::manager::cached::from_api;
    use crate::manager::plan::Skip;
    use crate::manager::testing;

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn node(name: &str, ready: bool) -> CachedNode {
        testing::node(name, &[], Some(ready))
    }

    fn pod(
        node: &str,
        phase: &str,
        created: Timestamp,
        terminated: &[(&str, i32, Option<&str>)],
    ) -> WorkerPod {
        testing::worker_pod(node, phase, created, terminated)
    }

    fn plan(targets: &[&str], skipped: usize) -> NodePlan {
        NodePlan {
            targets: targets.iter().map(|s| (*s).to_owned()).collect(),
            skipped: (0..skipped)
                .map(|i| (format!("win-{i}"), Skip::Windows))
                .collect(),
        }
    }

    #[test]
    fn the_ratio_is_a_float_so_one_failure_in_273_passes_a_099_ratio() {
        let names: Vec<String> = (0..272).map(|i| format!("n{i}")).collect();
        let mut targets: Vec<&str> = names.iter().map(String::as_str).collect();
        targets.push("bad");
        let mut pods: Vec<WorkerPod> = names
            .iter()
            .map(|n| pod(n, "Succeeded", t(0), &[]))
            .collect();
        pods.push(pod("bad", "Failed", t(0), &[("remover", 1, None)]));
        let nodes: Vec<CachedNode> = targets.iter().map(|n| node(n, true)).collect();
        let folded = fold(&plan(&targets, 0), &pods, &nodes, t(0), 0.99, t(5));
        assert_eq!(
            folded.status.phase,
            JobPhase::Completed,
            "Eraser's integer division made this Failed"
        );
        assert!((folded.ratio - 272.0 / 273.0).abs() < 1e-9);
        assert_eq!((folded.status.succeeded, folded.status.failed), (272, 1));
        let strict = fold(&plan(&targets, 0), &pods, &nodes, t(0), 1.0, t(5));
        assert_eq!(strict.status.phase, JobPhase::Failed);
    }

    #[test]
    fn skipped_windows_nodes_count_as_success_not_failure() {
        let folded = fold(
            &plan(&["a"], 2),
            &[pod("a", "Succeeded", t(0), &[])],
            &[node("a", true)],
            t(0),
            1.0,
            t(1),
        );
        assert_eq!(folded.status.phase, JobPhase::Completed);
        assert_eq!(
            (
                folded.status.desired,
                folded.status.skipped,
                folded.status.failed
            ),
            (3, 2, 0)
        );
    }

    #[test]
    fn pods_that_never_start_fail_after_the_start_timeout_instead_of_blocking_forever() {
        let nodes = [
            node("pending", true),
            node("notready", false),
            node("missing-pod", true),
        ];
        let pods = [
            pod("pending", "Pending", t(0), &[]),
            pod("notready", "Pending", t(0), &[]),
        ];
        let plan = plan(&["missing-pod", "notready", "pending"], 0);
        let early = fold(&plan, &pods, &nodes, t(0), 1.0, t(9));
        assert_eq!(early.status.phase, JobPhase::Running);
        let late = fold(&plan, &pods, &nodes, t(0), 1.0, t(11));
        assert_eq!(late.status.phase, JobPhase::Failed);
        assert_eq!(late.status.failed, 3);
        assert!(matches!(&late.nodes[1].1, NodeOutcome::Failed(r) if r.contains("NotReady")));
    }

    #[test]
    fn a_vanished_node_fails_at_once_and_a_nonzero_container_ends_a_running_pod() {
        let pods = [
            pod("gone", "Running", t(0), &[]),
            pod("oom", "Running", t(0), &[("remover", 137, None)]),
        ];
        let folded = fold(
            &plan(&["gone", "oom"], 0),
            &pods,
            &[node("oom", true)],
            t(0),
            1.0,
            t(1),
        );
        assert_eq!(folded.status.phase, JobPhase::Failed);
        assert_eq!(
            folded.nodes[0].1,
            NodeOutcome::Failed("node no longer exists".into())
        );
        assert_eq!(
            folded.nodes[1].1,
            NodeOutcome::Failed("container remover exited with 137".into())
        );
    }

    #[test]
    fn a_running_pod_on_a_node_that_went_notready_fails_after_the_timeout() {
        let mut lost = testing::api_node("lost", &[], Some(false));
        if let Some(conditions) = lost.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            conditions[0].last_transition_time = Some(Time(t(2)));
        }
        let lost: CachedNode = from_api(&lost);
        let pods = [pod("lost", "Running", t(0), &[])];
        let plan = plan(&["lost"], 0);
        let early = fold(&plan, &pods, std::slice::from_ref(&lost), t(0), 1.0, t(11));
        assert_eq!(
            early.status.phase,
            JobPhase::Running,
            "NotReady for 9 minutes only"
        );
        let late = fold(&plan, &pods, std::slice::from_ref(&lost), t(0), 1.0, t(13));
        assert_eq!(late.status.phase, JobPhase::Failed);
        assert!(matches!(&late.nodes[0].1, NodeOutcome::Failed(r) if r.contains("NotReady")));
    }

    #[test]
    fn the_removers_summary_is_read_from_its_termination_message() {
        let message = r#"{"removed":2,"wouldRemove":0,"alreadyGone":0,"kept":1,"notOnNode":0,"failed":0,"bytesReclaimed":10,"removedImages":["a","b"],"failedImages":[],"truncated":false}"#;
        let pods = [pod(
            "a",
            "Succeeded",
            t(0),
            &[("collector", 0, None), ("remover", 0, Some(message))],
        )];
        let folded = fold(&plan(&["a"], 0), &pods, &[node("a", true)], t(0), 1.0, t(1));
        let NodeOutcome::Succeeded(Some(summary)) = &folded.nodes[0].1 else {
            panic!("{folded:?}")
        };
        assert_eq!(summary.removed_images, vec!["a", "b"]);
    }

    #[test]
    fn an_empty_cluster_completes() {
        let folded = fold(&NodePlan::default(), &[], &[], t(0), 1.0, t(0));
        assert_eq!(folded.status.phase, JobPhase::Completed);
    }
}
