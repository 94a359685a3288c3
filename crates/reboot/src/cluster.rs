//! The ports the reboot daemon acts through: [`Cluster`] (the Kubernetes API, as plain data)
//! and [`Host`] (the node it runs on), plus the [`Clock`].
//!
//! The daemon loop ([`crate::daemon`]) is generic over these traits, so the same loop runs
//! against the API server (the kube adapter is [`crate::k8s`]) and against the
//! in-memory simulator (`crate::memory`, feature `sim`). The traits carry exactly what the
//! loop needs and no kube types: a Node is [`Node`], a pod is [`Pod`], the lock is the
//! annotation's text with the resource version it was read at.
//!
//! Every method returns `impl Future + Send` rather than being an `async fn`, so callers can
//! spawn the loop on a multi-threaded runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use jiff::{SignedDuration, Timestamp};

use crate::health::{Workload, WorkloadHealth};
use crate::lock::{NodeDirectory, NodeRole};
use crate::machine::{CORDON_MARKER_ANNOTATION, CordonState};

/// The label that makes a Node a control-plane node.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// The label older clusters use for control-plane nodes.
pub const LEGACY_MASTER_LABEL: &str = "node-role.kubernetes.io/master";

/// An opaque `metadata.resourceVersion` (or, for the node set, any token that changes when a
/// Node is added or deleted).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceVersion(pub String);

impl fmt::Display for ResourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lock annotation as read from the DaemonSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRead {
    /// The annotation's value (`None`: absent).
    pub value: Option<String>,
    /// The DaemonSet's resourceVersion when it was read; the write-back is conditional on it.
    pub version: ResourceVersion,
}

/// A taint on a Node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Taint {
    /// The taint key.
    pub key: String,
    /// Its effect (`PreferNoSchedule`, `NoSchedule`, `NoExecute`).
    pub effect: String,
}

/// What the daemon reads from a Node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `status.nodeInfo.bootID`.
    pub boot_id: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
}

/// Every Node that exists, with a token that changes when one is added or deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeList {
    /// The Nodes.
    pub nodes: Vec<Node>,
    /// Changes whenever the set of Nodes changes (not on every Node update).
    pub set_version: ResourceVersion,
}

/// What a waiting node watches: the lock and the set of Nodes (a deleted holder frees a slot
/// without the lock changing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The lock's resourceVersion as last read.
    pub lock: ResourceVersion,
    /// The node set's version as last read.
    pub node_set: ResourceVersion,
}

/// The controller owning a pod, as far as the drain cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No controller (a bare pod; `kubectl drain --force` deletes it, as kured does).
    None,
    /// A DaemonSet: skipped by the drain (`--ignore-daemonsets`).
    DaemonSet,
    /// Anything else (ReplicaSet, StatefulSet, Job, …): evicted.
    Other(String),
}

/// A pod's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Pending.
    Pending,
    /// Running.
    Running,
    /// Succeeded (terminal).
    Succeeded,
    /// Failed (terminal).
    Failed,
    /// Unknown.
    Unknown,
}

impl PodPhase {
    /// Whether the pod has finished (the pod blocker ignores these, as kured's field selector
    /// does, and `kubectl drain` deletes them without waiting).
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// What the daemon reads from a pod on its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`: a replacement pod with the same name has another.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Its controller.
    pub owner: Owner,
    /// A static pod's API mirror (`kubernetes.io/config.mirror` annotation): skipped by the
    /// drain.
    pub mirror: bool,
    /// `status.phase`.
    pub phase: PodPhase,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
}

/// The outcome of an eviction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Accepted: the pod is being deleted.
    Evicted,
    /// The pod no longer exists (404): it counts as done.
    Gone,
    /// 429: a PodDisruptionBudget does not allow it now.
    Blocked(String),
}

/// A Kubernetes Event on the daemon's Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The Node it is about.
    pub node: String,
    /// `Normal` or `Warning`.
    pub kind: EventKind,
    /// A CamelCase reason (`RebootLockAcquired`, `Draining`, …).
    pub reason: String,
    /// The human-readable message.
    pub message: String,
}

/// The type of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Progress.
    Normal,
    /// Something needs attention.
    Warning,
}

/// A change to a Node's metadata: one patch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePatch {
    /// Annotations to set (`Some`) or remove (`None`).
    pub annotations: BTreeMap<String, Option<String>>,
    /// Labels to set.
    pub labels: BTreeMap<String, String>,
    /// A `PreferNoSchedule` taint key to add (`Some(true)`) or remove (`Some(false)`).
    pub prefer_no_schedule_taint: Option<(String, bool)>,
}

impl NodePatch {
    /// Whether the patch changes nothing (and so need not be sent).
    pub fn is_empty(&self) -> bool {
        self.annotations.is_empty()
            && self.labels.is_empty()
            && self.prefer_no_schedule_taint.is_none()
    }
}

/// Why a port call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The conditional write lost: someone else wrote the object since it was read.
    #[error("conflict: the object changed since it was read")]
    Conflict,
    /// The object does not exist.
    #[error("{kind} {name} not found")]
    NotFound {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The API server could not be reached or answered with an error; try again later.
    #[error("API request failed: {0}")]
    Transient(String),
}

impl ClusterError {
    /// Whether trying again (after re-reading) may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, ClusterError::Conflict | ClusterError::Transient(_))
    }
}

/// The port's result type.
pub type ClusterResult<T> = std::result::Result<T, ClusterError>;

/// The Kubernetes API operations the reboot daemon needs, and nothing more.
pub trait Cluster {
    /// Reads the lock annotation on the DaemonSet.
    fn read_lock(&self) -> impl Future<Output = ClusterResult<LockRead>> + Send;

    /// Writes the lock annotation (`None` removes it) if the DaemonSet is still at `expected`;
    /// otherwise [`ClusterError::Conflict`]. Returns the new resourceVersion.
    fn write_lock(
        &self,
        value: Option<String>,
        expected: &ResourceVersion,
    ) -> impl Future<Output = ClusterResult<ResourceVersion>> + Send;

    /// Completes once the lock or the set of Nodes differs from `seen` (a watch).
    fn wait_for_change(&self, seen: &Seen) -> impl Future<Output = ()> + Send;

    /// Reads a Node (`None`: it does not exist).
    fn get_node(&self, name: &str) -> impl Future<Output = ClusterResult<Option<Node>>> + Send;

    /// Lists the Nodes: every Node where the adapter may list them, otherwise at least each
    /// one named in `wanted` that exists (the daemon names the lock holders). The set version
    /// is comparable only with what the same adapter's [`Cluster::wait_for_change`] sees.
    fn list_nodes(&self, wanted: &[String])
    -> impl Future<Output = ClusterResult<NodeList>> + Send;

    /// Cordons the Node and sets [`CORDON_MARKER_ANNOTATION`], in one patch.
    fn cordon(&self, node: &str) -> impl Future<Output = ClusterResult<()>> + Send;

    /// Uncordons the Node and removes [`CORDON_MARKER_ANNOTATION`], in one patch.
    fn uncordon(&self, node: &str) -> impl Future<Output = ClusterResult<()>> + Send;

    /// Patches a Node's annotations, labels and PreferNoSchedule taint.
    fn patch_node(
        &self,
        node: &str,
        patch: &NodePatch,
    ) -> impl Future<Output = ClusterResult<()>> + Send;

    /// Lists the pods bound to a Node (`spec.nodeName`), in every namespace.
    fn list_pods(&self, node: &str) -> impl Future<Output = ClusterResult<Vec<Pod>>> + Send;

    /// Evicts a pod through the Eviction API, with this grace period (`None`: the pod's own).
    fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> impl Future<Output = ClusterResult<Eviction>> + Send;

    /// Records an Event on a Node.
    fn emit_event(&self, event: Event) -> impl Future<Output = ClusterResult<()>> + Send;

    /// Reads how whole an evicted pod's controller is, for the health gate: its replicas and
    /// the PodDisruptionBudgets over its pods. A missing permission is
    /// [`WorkloadHealth::Unknown`], not an error: the gate then does not wait for it.
    fn workload_health(
        &self,
        workload: &Workload,
    ) -> impl Future<Output = ClusterResult<WorkloadHealth>> + Send;
}

/// The node the daemon runs on.
pub trait Host {
    /// Whether the sentinel says a reboot is required (a failing sentinel command counts as
    /// "not required", never as a reason to reboot).
    fn reboot_required(&self) -> impl Future<Output = bool> + Send;

    /// Why external blockers (the Prometheus alert blocker) block a reboot now; empty when
    /// nothing blocks. Errors block (fail closed), as in kured.
    fn alert_blockers(&self) -> impl Future<Output = Vec<String>> + Send;

    /// Sends a notification to every `--notify-url` (failures are logged, never fatal).
    fn notify(&self, message: String) -> impl Future<Output = ()> + Send;

    /// Reboots the node. On success the process is usually killed before this returns.
    fn reboot(&self) -> impl Future<Output = Result<(), String>> + Send;

    /// Completes when the sentinel may have changed since the last call (the sentinel file
    /// appeared or went), so the daemon looks at once instead of at its next period. Never
    /// completes where changes cannot be watched (a sentinel command, no inotify): the period
    /// check is the fallback.
    fn sentinel_changed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// Where the daemon reads the time and waits. The simulator's clock is virtual.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Timestamp) -> impl Future<Output = ()> + Send;

    /// Completes after `duration`.
    fn sleep(&self, duration: SignedDuration) -> impl Future<Output = ()> + Send {
        self.sleep_until(self.now().saturating_add(duration).unwrap_or(self.now()))
    }
}

/// The tokio clock: [`Timestamp`]s anchored at one instant of tokio's clock, so that with
/// tokio's paused time (`start_paused`) the whole daemon runs in virtual time.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: Timestamp,
    origin_instant: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `origin` now and advances with tokio's clock.
    pub fn starting_at(origin: Timestamp) -> TokioClock {
        TokioClock {
            origin,
            origin_instant: tokio::time::Instant::now(),
        }
    }

    /// The system clock, advancing with tokio's clock.
    pub fn system() -> TokioClock {
        TokioClock::starting_at(Timestamp::now())
    }

    /// The tokio instant of a timestamp (instants before the origin clamp to it).
    pub fn instant_of(&self, t: Timestamp) -> tokio::time::Instant {
        let since = t.duration_since(self.origin);
        let since = std::time::Duration::try_from(since).unwrap_or_default();
        self.origin_instant + since
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.origin_instant.elapsed();
        let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
        self.origin.saturating_add(elapsed).unwrap_or(self.origin)
    }

    fn sleep_until(&self, deadline: Timestamp) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(self.instant_of(deadline))
    }
}

// === impl Node ===

impl Node {
    /// The cordon as the state machine sees it.
    pub fn cordon_state(&self) -> CordonState {
        match (
            self.unschedulable,
            self.annotations.contains_key(CORDON_MARKER_ANNOTATION),
        ) {
            (false, _) => CordonState::Schedulable,
            (true, true) => CordonState::CordonedByDrydock,
            (true, false) => CordonState::Cordoned,
        }
    }

    /// Whether it is a control-plane node (by its role labels).
    pub fn role(&self) -> NodeRole {
        if self.labels.contains_key(CONTROL_PLANE_LABEL)
            || self.labels.contains_key(LEGACY_MASTER_LABEL)
        {
            NodeRole::ControlPlane
        } else {
            NodeRole::Worker
        }
    }

    /// Whether it carries a taint with this key and effect.
    pub fn has_taint(&self, key: &str, effect: &str) -> bool {
        self.taints
            .iter()
            .any(|t| t.key == key && t.effect == effect)
    }
}

impl NodeList {
    /// The node directory the lock policy uses.
    pub fn directory(&self) -> NodeDirectory {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.role()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node {
            name: "n1".into(),
            ..Node::default()
        }
    }

    #[test]
    fn a_cordon_with_the_marker_is_drydocks_and_one_without_is_someone_elses() {
        let mut n = node();
        assert_eq!(n.cordon_state(), CordonState::Schedulable);
        n.unschedulable = true;
        assert_eq!(n.cordon_state(), CordonState::Cordoned);
        n.annotations
            .insert(CORDON_MARKER_ANNOTATION.into(), "true".into());
        assert_eq!(n.cordon_state(), CordonState::CordonedByDrydock);
    }

    #[test]
    fn control_plane_nodes_are_told_by_either_role_label() {
        let mut n = node();
        assert_eq!(n.role(), NodeRole::Worker);
        n.labels.insert(LEGACY_MASTER_LABEL.into(), String::new());
        assert_eq!(n.role(), NodeRole::ControlPlane);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_advances_with_paused_time() {
        let origin: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let clock = TokioClock::starting_at(origin);
        clock.sleep(SignedDuration::from_hours(2)).await;
        assert_eq!(clock.now(), origin + SignedDuration::from_hours(2));
    }
}
