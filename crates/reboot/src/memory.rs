//! An in-memory cluster for simulations: [`MemoryCluster`] implements the [`Cluster`] and
//! [`Host`] ports for many nodes at once, in virtual time (tokio's paused clock).
//!
//! It models what the reboot daemon's safety depends on, and nothing else:
//! - the DaemonSet lock annotation with resource versions, conflicting writes and a watch;
//! - Nodes (cordon, marker annotation, labels, taints, boot ID, `Ready`), and their deletion;
//! - pods owned by ReplicaSets, DaemonSets or nobody, mirror pods, and PodDisruptionBudgets:
//!   an eviction is refused (429) while it would take the healthy pods of a budget below its
//!   `minAvailable`; an evicted pod terminates after a while and its controller recreates it
//!   on another schedulable Node, where it becomes ready after a start-up time;
//! - a reboot: the Node goes NotReady, comes back after a downtime with a new boot ID and no
//!   sentinel (`/var/run` is a tmpfs), and the daemon pod starts again from scratch;
//! - chaos: a daemon may crash right before or right after any API call, losing everything it
//!   had in memory, and is restarted like a pod.
//!
//! [`MemoryCluster::run_node`] supervises one node's daemon (crashes, reboots, deletion). The
//! cluster also records what tests assert on: every lock write (holders over time), reboots,
//! the most nodes disrupted at once, crash points and API calls per node.
//!
//! Randomness comes from one seeded [`SimRng`], and every map is ordered, so a seed replays
//! the same run on tokio's current-thread runtime.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use crate::cluster::{
    Clock, Cluster, ClusterError, ClusterResult, Event, Eviction, Host, LockRead, Node, NodeList,
    NodePatch, Owner, Pod, PodPhase, ResourceVersion, Seen, Taint, TokioClock,
};
use crate::config::Config;
use crate::daemon::Daemon;
use crate::health::{Workload, WorkloadHealth};
use crate::lock::NodeRole;
use crate::machine::CORDON_MARKER_ANNOTATION;

/// The API calls that only read (the others write).
const READS: [&str; 5] = [
    "get_node",
    "read_lock",
    "list_nodes",
    "list_pods",
    "workload_health",
];

/// The taint effect of `--prefer-no-schedule-taint`.
const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// How long the simulated times take. Each is a range a value is drawn from uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// One API round trip (also the delay of a watch notification).
    pub api_latency: (SignedDuration, SignedDuration),
    /// From eviction to the pod being gone (its graceful termination).
    pub pod_termination: (SignedDuration, SignedDuration),
    /// From a replacement pod being scheduled to it being ready.
    pub pod_start: (SignedDuration, SignedDuration),
    /// From the reboot command to the Node being Ready again with a new boot ID.
    pub reboot_downtime: (SignedDuration, SignedDuration),
    /// From a daemon crash (or the Node coming back) to the daemon pod running again.
    pub daemon_restart: (SignedDuration, SignedDuration),
}

impl Default for Timings {
    /// Plausible figures for a cloud VM: a few milliseconds per API call, pods that stop in a
    /// few seconds and start in tens of seconds, a reboot of one to three minutes.
    fn default() -> Timings {
        Timings {
            api_latency: (
                SignedDuration::from_millis(2),
                SignedDuration::from_millis(20),
            ),
            pod_termination: (SignedDuration::from_secs(1), SignedDuration::from_secs(5)),
            pod_start: (SignedDuration::from_secs(5), SignedDuration::from_secs(30)),
            reboot_downtime: (
                SignedDuration::from_secs(60),
                SignedDuration::from_secs(180),
            ),
            daemon_restart: (SignedDuration::from_secs(2), SignedDuration::from_secs(15)),
        }
    }
}

/// How often daemons crash: each API call may be cut by a crash, before it takes effect or
/// after (its answer lost), with these probabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chaos {
    /// Percent of reads (`get_node`, `read_lock`, `list_nodes`, `list_pods`) cut by a crash.
    pub read_crash_percent: u32,
    /// Percent of writes (the lock, cordons, evictions, patches, events) cut by a crash.
    pub write_crash_percent: u32,
}

/// Where in an API call a daemon crashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The node whose daemon crashed.
    pub node: String,
    /// The call (`write_lock`, `cordon`, `evict`, …).
    pub op: &'static str,
    /// Whether the call had taken effect (the response was lost) or not (it was never sent).
    pub after: bool,
    /// When (virtual time).
    pub at: Timestamp,
}

/// A small seeded random number generator (xorshift64*), enough for simulations.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> SimRng {
        // SplitMix64 of the seed, so nearby seeds diverge at once and the state is never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        SimRng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low + 1)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.between(0, 99) < u64::from(percent)
    }

    /// A duration in `range` (inclusive), at millisecond resolution.
    pub fn duration(&mut self, range: (SignedDuration, SignedDuration)) -> SignedDuration {
        let low = u64::try_from(range.0.as_millis()).unwrap_or(0);
        let high = u64::try_from(range.1.as_millis()).unwrap_or(low);
        SignedDuration::from_millis(i64::try_from(self.between(low, high)).unwrap_or(0))
    }
}

/// A Node to add to the simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Its name.
    pub name: String,
    /// Worker or control plane (labelled accordingly).
    pub role: NodeRole,
    /// Cordoned by an operator from the start.
    pub cordoned: bool,
    /// The sentinel exists from the start.
    pub needs_reboot: bool,
    /// Its zone (label [`ZONE_LABEL`]), if any.
    pub zone: Option<String>,
}

/// The zone label the simulated Nodes carry (the default `--zone-label`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

impl NodeSpec {
    /// A schedulable worker that needs no reboot.
    pub fn worker(name: impl Into<String>) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            role: NodeRole::Worker,
            cordoned: false,
            needs_reboot: false,
            zone: None,
        }
    }

    /// In this zone.
    pub fn in_zone(self, zone: impl Into<String>) -> NodeSpec {
        NodeSpec {
            zone: Some(zone.into()),
            ..self
        }
    }

    /// A schedulable control-plane node that needs no reboot.
    pub fn control_plane(name: impl Into<String>) -> NodeSpec {
        NodeSpec {
            role: NodeRole::ControlPlane,
            ..NodeSpec::worker(name)
        }
    }

    /// Cordoned by an operator.
    pub fn cordoned(self) -> NodeSpec {
        NodeSpec {
            cordoned: true,
            ..self
        }
    }

    /// With the reboot sentinel present.
    pub fn needing_reboot(self) -> NodeSpec {
        NodeSpec {
            needs_reboot: true,
            ..self
        }
    }
}

/// What a daemon's supervisor is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// The daemon crashed: restart it.
    Crash,
    /// The node is rebooting: wait for it, then restart the daemon.
    Reboot,
    /// The Node was deleted: stop.
    Deleted,
}

/// Whether an API call is cut by a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// No crash.
    No,
    /// Crash before the call takes effect.
    Before,
    /// Crash after it took effect, before the caller sees the answer.
    After,
}

#[derive(Debug)]
struct SimNode {
    node: Node,
    sentinel: bool,
    down: bool,
    signal: Option<Signal>,
    wake: Arc<Notify>,
    /// Notified when the sentinel is set or removed (the inotify watch of a real node).
    sentinel_watch: Arc<Notify>,
    reboots: u32,
}

#[derive(Debug)]
struct SimPod {
    pod: Pod,
    node: Option<String>,
    ready_at: Option<Timestamp>,
    gone_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct Budget {
    namespace: String,
    app: String,
    min_available: usize,
}

/// The most nodes disrupted at once, by the measures the simulation tests assert on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// Nodes carrying Drydock's cordon.
    pub drydock_cordoned: usize,
    /// Nodes carrying Drydock's cordon or down for a reboot.
    pub disrupted: usize,
    /// Control-plane nodes carrying Drydock's cordon or down for a reboot.
    pub control_plane_disrupted: usize,
}

#[derive(Debug)]
struct State {
    rng: SimRng,
    timings: Timings,
    chaos: Chaos,
    nodes: BTreeMap<String, SimNode>,
    pods: BTreeMap<(String, String), SimPod>,
    budgets: Vec<Budget>,
    /// Controllers whose replacement pods never become ready (a broken rollout, an image
    /// that no longer pulls).
    broken: BTreeSet<String>,
    /// `list_nodes` returns every Node (an adapter that may list), not only those named.
    list_every_node: bool,
    lock: Option<String>,
    ds_version: u64,
    node_set_version: u64,
    next_uid: u64,
    calls: BTreeMap<String, u64>,
    events: Vec<(Timestamp, Event)>,
    notifications: Vec<(Timestamp, String, String)>,
    lock_history: Vec<(Timestamp, Vec<String>)>,
    reboots: BTreeMap<String, Vec<Timestamp>>,
    crashes: Vec<CrashPoint>,
    peaks: Peaks,
    /// When each freed lock slot became free (FIFO), for the idle-time measure.
    freed_slots: VecDeque<Timestamp>,
    idle_gaps: Vec<SignedDuration>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken on every change a watcher may care about. A `Notify` wakes its waiters in the
    /// order they came (tokio's `watch` picks among its notifiers at random, which would make
    /// runs unrepeatable).
    changes: Notify,
    clock: TokioClock,
}

/// The simulated cluster. Cheap to clone: clones share the same cluster.
#[derive(Clone)]
pub struct MemoryCluster {
    shared: Arc<Shared>,
}

/// One node's view of the [`MemoryCluster`]: its daemon's [`Cluster`] and [`Host`]. API calls
/// are counted against the node, and may be cut by a crash.
#[derive(Clone)]
pub struct NodeClient {
    cluster: MemoryCluster,
    node: String,
}

// === impl State ===

impl State {
    fn ready_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.node.ready && !n.node.unschedulable)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Removes pods whose termination finished and schedules pending pods.
    fn settle(&mut self, now: Timestamp) {
        if self
            .pods
            .values()
            .any(|p| p.gone_at.is_some_and(|t| t <= now))
        {
            self.pods.retain(|_, p| p.gone_at.is_none_or(|t| t > now));
        }
        let pending: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|(_, p)| p.node.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if pending.is_empty() {
            return;
        }
        let ready = self.ready_nodes();
        if ready.is_empty() {
            return;
        }
        for key in pending {
            let target = self.least_loaded(&ready);
            let start = self.rng.duration(self.timings.pod_start);
            let broken = &self.broken;
            if let Some(p) = self.pods.get_mut(&key) {
                p.node = Some(target);
                let never = matches!(&p.pod.owner, Owner::Other(c) if broken.contains(c));
                p.ready_at = if never {
                    None
                } else {
                    now.checked_add(start).ok()
                };
            }
        }
    }

    /// A controller's replicas and its budgets' allowed disruptions, as a controller and the
    /// disruption controller would report them.
    fn workload_health(&self, workload: &Workload, now: Timestamp) -> WorkloadHealth {
        let mine: Vec<&SimPod> = self
            .pods
            .values()
            .filter(|p| p.gone_at.is_none() && p.pod.namespace == workload.namespace)
            .filter(|p| matches!(&p.pod.owner, Owner::Other(c) if *c == workload.controller))
            .collect();
        let Some(app) = mine.first().and_then(|p| p.pod.labels.get("app")) else {
            return WorkloadHealth::Gone;
        };
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let ready = mine.iter().filter(|p| self.healthy(p, now)).count();
        let budgets = self
            .budgets
            .iter()
            .filter(|b| b.namespace == workload.namespace && b.app == *app)
            .map(|b| {
                let healthy = self
                    .pods
                    .values()
                    .filter(|p| {
                        p.pod.namespace == b.namespace && p.pod.labels.get("app") == Some(app)
                    })
                    .filter(|p| self.healthy(p, now))
                    .count();
                i32::try_from(healthy.saturating_sub(b.min_available)).unwrap_or(i32::MAX)
            })
            .collect();
        WorkloadHealth::Observed {
            desired: count(mine.len()),
            ready: count(ready),
            budgets,
        }
    }

    fn least_loaded(&self, candidates: &[String]) -> String {
        let load = |n: &String| {
            self.pods
                .values()
                .filter(|p| p.node.as_ref() == Some(n))
                .count()
        };
        candidates
            .iter()
            .min_by_key(|n| (load(n), (*n).clone()))
            .cloned()
            .unwrap_or_default()
    }

    fn healthy(&self, p: &SimPod, now: Timestamp) -> bool {
        p.gone_at.is_none()
            && p.ready_at.is_some_and(|t| t <= now)
            && p.node
                .as_ref()
                .and_then(|n| self.nodes.get(n))
                .is_some_and(|n| n.node.ready)
    }

    fn budget_allows(&self, victim: &SimPod, now: Timestamp) -> Result<(), String> {
        if !self.healthy(victim, now) {
            return Ok(());
        }
        for b in &self.budgets {
            let app = victim.pod.labels.get("app");
            if victim.pod.namespace != b.namespace || app != Some(&b.app) {
                continue;
            }
            let healthy = self
                .pods
                .values()
                .filter(|p| p.pod.namespace == b.namespace && p.pod.labels.get("app") == app)
                .filter(|p| self.healthy(p, now))
                .count();
            if healthy <= b.min_available {
                return Err(format!(
                    "Cannot evict pod as it would violate the pod's disruption budget \
                     ({}/{}: {healthy} healthy, minAvailable {})",
                    b.namespace, b.app, b.min_available
                ));
            }
        }
        Ok(())
    }

    /// Deletes a pod (now or after its termination) and lets its controller replace it.
    fn remove_pod(&mut self, key: &(String, String), now: Timestamp, graceful: bool) {
        let termination = self.rng.duration(self.timings.pod_termination);
        let Some(p) = self.pods.get_mut(key) else {
            return;
        };
        if p.gone_at.is_some() {
            return;
        }
        p.gone_at = Some(if graceful {
            now.checked_add(termination).unwrap_or(now)
        } else {
            now
        });
        p.pod.terminating = true;
        let Owner::Other(controller) = p.pod.owner.clone() else {
            return;
        };
        let replacement = Pod {
            name: format!("{controller}-{}", self.next_uid),
            uid: format!("uid-{}", self.next_uid),
            terminating: false,
            phase: PodPhase::Running,
            ..p.pod.clone()
        };
        self.next_uid += 1;
        self.pods.insert(
            (replacement.namespace.clone(), replacement.name.clone()),
            SimPod {
                pod: replacement,
                node: None,
                ready_at: None,
                gone_at: None,
            },
        );
    }

    fn holders(value: Option<&str>) -> Vec<String> {
        let Some(v) = value.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()) else {
            return Vec::new();
        };
        let id = |e: &serde_json::Value| e.get("nodeID")?.as_str().map(str::to_owned);
        match v.get("locks").and_then(|l| l.as_array()) {
            Some(locks) => locks.iter().filter_map(id).collect(),
            None => id(&v).into_iter().collect(),
        }
    }

    fn record_lock(&mut self, now: Timestamp) {
        let before: Vec<String> = self
            .lock_history
            .last()
            .map(|(_, h)| h.clone())
            .unwrap_or_default();
        let after = State::holders(self.lock.as_deref());
        let removed = before.iter().filter(|h| !after.contains(h)).count();
        let added = after.iter().filter(|h| !before.contains(h)).count();
        for _ in 0..removed {
            self.freed_slots.push_back(now);
        }
        for _ in 0..added {
            if let Some(freed) = self.freed_slots.pop_front() {
                self.idle_gaps.push(now.duration_since(freed));
            }
        }
        self.lock_history.push((now, after));
    }

    fn update_peaks(&mut self) {
        let disrupted = |n: &SimNode| {
            n.down
                || (n.node.unschedulable
                    && n.node.annotations.contains_key(CORDON_MARKER_ANNOTATION))
        };
        let drydock = self
            .nodes
            .values()
            .filter(|n| n.node.unschedulable)
            .filter(|n| n.node.annotations.contains_key(CORDON_MARKER_ANNOTATION))
            .count();
        let all = self.nodes.values().filter(|n| disrupted(n)).count();
        let control_plane = self
            .nodes
            .values()
            .filter(|n| n.node.role() == NodeRole::ControlPlane && disrupted(n))
            .count();
        self.peaks.drydock_cordoned = self.peaks.drydock_cordoned.max(drydock);
        self.peaks.disrupted = self.peaks.disrupted.max(all);
        self.peaks.control_plane_disrupted = self.peaks.control_plane_disrupted.max(control_plane);
    }

    fn node_mut(&mut self, name: &str) -> ClusterResult<&mut SimNode> {
        self.nodes
            .get_mut(name)
            .ok_or_else(|| ClusterError::NotFound {
                kind: "Node",
                name: name.to_owned(),
            })
    }

    fn signal(&mut self, name: &str, signal: Signal) {
        if let Some(n) = self.nodes.get_mut(name) {
            n.signal = Some(signal);
            n.wake.notify_one();
        }
    }
}

// === impl MemoryCluster ===

impl MemoryCluster {
    /// An empty cluster whose virtual clock reads `origin` now.
    pub fn new(seed: u64, origin: Timestamp, timings: Timings, chaos: Chaos) -> MemoryCluster {
        MemoryCluster {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    rng: SimRng::new(seed),
                    timings,
                    chaos,
                    nodes: BTreeMap::new(),
                    pods: BTreeMap::new(),
                    budgets: Vec::new(),
                    broken: BTreeSet::new(),
                    list_every_node: false,
                    lock: None,
                    ds_version: 1,
                    node_set_version: 1,
                    next_uid: 1,
                    calls: BTreeMap::new(),
                    events: Vec::new(),
                    notifications: Vec::new(),
                    lock_history: Vec::new(),
                    reboots: BTreeMap::new(),
                    crashes: Vec::new(),
                    peaks: Peaks::default(),
                    freed_slots: VecDeque::new(),
                    idle_gaps: Vec::new(),
                }),
                changes: Notify::new(),
                clock: TokioClock::starting_at(origin),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock already failed the test; keep reading the state.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self) {
        self.shared.changes.notify_waiters();
    }

    /// The simulation's clock.
    pub fn clock(&self) -> TokioClock {
        self.shared.clock
    }

    /// Adds a Node, Ready, with a fresh boot ID.
    pub fn add_node(&self, spec: NodeSpec) {
        let mut labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_owned(), spec.name.clone()),
            ("kubernetes.io/os".to_owned(), "linux".to_owned()),
        ]);
        if let Some(zone) = &spec.zone {
            labels.insert(ZONE_LABEL.to_owned(), zone.clone());
        }
        if spec.role == NodeRole::ControlPlane {
            labels.insert(
                crate::cluster::CONTROL_PLANE_LABEL.to_owned(),
                String::new(),
            );
        }
        let node = Node {
            name: spec.name.clone(),
            unschedulable: spec.cordoned,
            labels,
            annotations: BTreeMap::new(),
            taints: Vec::new(),
            boot_id: format!("{}-boot-0", spec.name),
            ready: true,
        };
        {
            let mut s = self.state();
            s.nodes.insert(
                spec.name,
                SimNode {
                    node,
                    sentinel: spec.needs_reboot,
                    down: false,
                    signal: None,
                    wake: Arc::new(Notify::new()),
                    sentinel_watch: Arc::new(Notify::new()),
                    reboots: 0,
                },
            );
            s.node_set_version += 1;
        }
        self.publish();
    }

    /// Adds a pod bound to `node` (ready at once), owned by `owner`, labelled `app=<app>`.
    pub fn add_pod(&self, namespace: &str, name: &str, app: &str, node: &str, owner: Owner) {
        let now = self.clock().now();
        let mut s = self.state();
        let uid = format!("uid-{}", s.next_uid);
        s.next_uid += 1;
        s.pods.insert(
            (namespace.to_owned(), name.to_owned()),
            SimPod {
                pod: Pod {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    uid,
                    labels: BTreeMap::from([("app".to_owned(), app.to_owned())]),
                    owner,
                    mirror: false,
                    phase: PodPhase::Running,
                    terminating: false,
                },
                node: Some(node.to_owned()),
                ready_at: Some(now),
                gone_at: None,
            },
        );
    }

    /// Adds a static pod's mirror on `node`.
    pub fn add_mirror_pod(&self, namespace: &str, name: &str, node: &str) {
        self.add_pod(namespace, name, name, node, Owner::None);
        let mut s = self.state();
        if let Some(p) = s.pods.get_mut(&(namespace.to_owned(), name.to_owned())) {
            p.pod.mirror = true;
        }
    }

    /// Adds a ReplicaSet's `replicas` pods labelled `app=<app>`, spread over the schedulable
    /// Nodes.
    pub fn add_replicas(&self, namespace: &str, app: &str, replicas: usize) {
        for i in 0..replicas {
            let node = {
                let s = self.state();
                let ready = s.ready_nodes();
                s.least_loaded(&ready)
            };
            self.add_pod(
                namespace,
                &format!("{app}-init-{i}"),
                app,
                &node,
                Owner::Other(format!("{app}-rs")),
            );
        }
    }

    /// Makes the pods `controller` creates from now on never become ready.
    pub fn break_workload(&self, controller: &str) {
        self.state().broken.insert(controller.to_owned());
    }

    /// From now on `list_nodes` returns every Node, as an adapter allowed to list Nodes does,
    /// instead of only the Nodes the daemon names (the default: decisions read no other, and
    /// copying every Node for every daemon on every change costs most of a run).
    pub fn list_every_node(&self) {
        self.state().list_every_node = true;
    }

    /// Adds a PodDisruptionBudget over the pods labelled `app=<app>`.
    pub fn add_budget(&self, namespace: &str, app: &str, min_available: usize) {
        self.state().budgets.push(Budget {
            namespace: namespace.to_owned(),
            app: app.to_owned(),
            min_available,
        });
    }

    /// Sets the lock annotation by hand (as an operator, or another daemon version, would).
    pub fn set_lock(&self, value: Option<&str>) {
        let now = self.clock().now();
        {
            let mut s = self.state();
            s.lock = value.map(str::to_owned);
            s.ds_version += 1;
            s.record_lock(now);
        }
        self.publish();
    }

    /// Creates or removes a node's reboot sentinel.
    /// The node's daemon notices at once, as inotify makes a real one.
    pub fn set_sentinel(&self, node: &str, present: bool) {
        if let Some(n) = self.state().nodes.get_mut(node) {
            n.sentinel = present;
            // One waiter (the node's daemon); `notify_one` keeps the change for it if it is
            // busy now, as the kernel queues inotify events.
            n.sentinel_watch.notify_one();
        }
    }

    /// Sets (`Some`) or removes (`None`) an annotation on a Node, as `kubectl annotate` (or
    /// `drydock reboot now`) does.
    pub fn set_node_annotation(&self, node: &str, key: &str, value: Option<&str>) {
        if let Some(n) = self.state().nodes.get_mut(node) {
            match value {
                Some(v) => n.node.annotations.insert(key.to_owned(), v.to_owned()),
                None => n.node.annotations.remove(key),
            };
        }
    }

    /// Deletes a Node (scale-in): its pods go with it (controllers recreate theirs
    /// elsewhere) and its daemon stops for good.
    pub fn delete_node(&self, node: &str) {
        let now = self.clock().now();
        {
            let mut s = self.state();
            s.signal(node, Signal::Deleted);
            s.nodes.remove(node);
            s.node_set_version += 1;
            let keys: Vec<(String, String)> = s
                .pods
                .iter()
                .filter(|(_, p)| p.node.as_deref() == Some(node))
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                s.remove_pod(&key, now, false);
            }
            s.settle(now);
            s.update_peaks();
        }
        self.publish();
    }

    /// This node's client: what its daemon is given as [`Cluster`] and [`Host`].
    pub fn client(&self, node: &str) -> NodeClient {
        NodeClient {
            cluster: self.clone(),
            node: node.to_owned(),
        }
    }

    /// Supervises `node`'s daemon until its Node is deleted: `start` builds a fresh daemon
    /// (nothing survives a restart but what is in the cluster); a crash restarts it after a
    /// pod restart delay; a reboot takes the Node down, brings it back with a new boot ID and
    /// no sentinel, and starts the daemon again.
    pub async fn run_node<F, Fut>(&self, node: &str, mut start: F)
    where
        F: FnMut(NodeClient) -> Fut,
        Fut: Future<Output = ()>,
    {
        let clock = self.clock();
        loop {
            let Some(wake) = self.arm(node) else {
                return;
            };
            let daemon = start(self.client(node));
            let signal = tokio::select! {
                biased;
                signal = self.next_signal(node, &wake) => signal,
                () = daemon => Signal::Crash,
            };
            let restart = {
                let mut s = self.state();
                let timings = s.timings;
                s.rng.duration(timings.daemon_restart)
            };
            match signal {
                Signal::Deleted => return,
                Signal::Crash => clock.sleep(restart).await,
                Signal::Reboot => {
                    let downtime = {
                        let mut s = self.state();
                        let timings = s.timings;
                        s.rng.duration(timings.reboot_downtime)
                    };
                    clock.sleep(downtime).await;
                    self.boot(node);
                    clock.sleep(restart).await;
                }
            }
        }
    }

    /// Supervises Drydock's daemon for `config.node_id` with [`MemoryCluster::run_node`].
    pub async fn run_drydock(&self, config: Config) {
        let node = config.node_id.clone();
        let clock = self.clock();
        self.run_node(&node, |client| {
            let config = config.clone();
            async move {
                Daemon::new(config, client.clone(), client, clock)
                    .run()
                    .await;
            }
        })
        .await;
    }

    /// Prepares a new incarnation of the node's daemon: clears the signal. `None` when the
    /// Node is gone.
    fn arm(&self, node: &str) -> Option<Arc<Notify>> {
        let mut s = self.state();
        let n = s.nodes.get_mut(node)?;
        n.signal = None;
        Some(n.wake.clone())
    }

    async fn next_signal(&self, node: &str, wake: &Notify) -> Signal {
        loop {
            let signal = match self.state().nodes.get_mut(node) {
                Some(n) => n.signal.take(),
                None => Some(Signal::Deleted),
            };
            if let Some(signal) = signal {
                return signal;
            }
            wake.notified().await;
        }
    }

    fn boot(&self, node: &str) {
        let now = self.clock().now();
        let mut s = self.state();
        let start = s.timings.pod_start;
        let delays: Vec<SignedDuration> =
            (0..s.pods.len()).map(|_| s.rng.duration(start)).collect();
        let Some(n) = s.nodes.get_mut(node) else {
            return;
        };
        n.reboots += 1;
        n.node.boot_id = format!("{node}-boot-{}", n.reboots);
        n.node.ready = true;
        n.down = false;
        n.sentinel = false;
        // Pods that stayed on the node (DaemonSet, mirror, undrained) start again.
        for (p, delay) in s.pods.values_mut().zip(delays) {
            if p.node.as_deref() == Some(node) {
                p.ready_at = now.checked_add(delay).ok();
            }
        }
        s.settle(now);
        s.update_peaks();
    }

    /// The lock annotation now.
    pub fn lock(&self) -> Option<String> {
        self.state().lock.clone()
    }

    /// Who held the lock after each write, in order.
    pub fn lock_history(&self) -> Vec<(Timestamp, Vec<String>)> {
        self.state().lock_history.clone()
    }

    /// The holders recorded in the lock now.
    pub fn lock_holders(&self) -> Vec<String> {
        State::holders(self.state().lock.as_deref())
    }

    /// How long each freed lock slot stayed free before a node took it.
    pub fn lock_idle_gaps(&self) -> Vec<SignedDuration> {
        self.state().idle_gaps.clone()
    }

    /// When each node rebooted.
    pub fn reboots(&self) -> BTreeMap<String, Vec<Timestamp>> {
        self.state().reboots.clone()
    }

    /// A Node as it is now (`None`: deleted).
    pub fn node(&self, name: &str) -> Option<Node> {
        self.state().nodes.get(name).map(|n| n.node.clone())
    }

    /// The names of the Nodes that exist.
    pub fn node_names(&self) -> Vec<String> {
        self.state().nodes.keys().cloned().collect()
    }

    /// Whether a node's sentinel is present.
    pub fn sentinel(&self, node: &str) -> bool {
        self.state().nodes.get(node).is_some_and(|n| n.sentinel)
    }

    /// The most nodes disrupted at once so far.
    pub fn peaks(&self) -> Peaks {
        self.state().peaks
    }

    /// Where daemons crashed.
    pub fn crashes(&self) -> Vec<CrashPoint> {
        self.state().crashes.clone()
    }

    /// Every Event recorded, with its time.
    pub fn events(&self) -> Vec<(Timestamp, Event)> {
        self.state().events.clone()
    }

    /// Every notification sent: time, node, message.
    pub fn notifications(&self) -> Vec<(Timestamp, String, String)> {
        self.state().notifications.clone()
    }

    /// API calls made by `node`'s daemons so far.
    pub fn api_calls(&self, node: &str) -> u64 {
        self.state().calls.get(node).copied().unwrap_or(0)
    }

    /// The pods that exist now, with the Node they are bound to.
    pub fn pods(&self) -> Vec<(Pod, Option<String>)> {
        let now = self.clock().now();
        let mut s = self.state();
        s.settle(now);
        s.pods
            .values()
            .map(|p| (p.pod.clone(), p.node.clone()))
            .collect()
    }
}

// === impl NodeClient ===

impl NodeClient {
    /// The node this client acts for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// One API call: a round trip of latency, maybe a crash before or after it, and `f`
    /// applied to the state (settled to now) under the lock.
    async fn call<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State, Timestamp) -> T + Send,
    ) -> T {
        let clock = self.cluster.clock();
        let latency = {
            let mut s = self.cluster.state();
            let timings = s.timings;
            s.rng.duration(timings.api_latency)
        };
        clock.sleep(latency).await;
        let cut = {
            let mut s = self.cluster.state();
            *s.calls.entry(self.node.clone()).or_default() += 1;
            let percent = if READS.contains(&op) {
                s.chaos.read_crash_percent
            } else {
                s.chaos.write_crash_percent
            };
            match (s.rng.percent(percent), s.rng.percent(50)) {
                (false, _) => Cut::No,
                (true, true) => Cut::Before,
                (true, false) => Cut::After,
            }
        };
        if cut == Cut::Before {
            self.crash(op, false).await;
        }
        let (out, changed) = {
            let now = clock.now();
            let mut s = self.cluster.state();
            s.settle(now);
            let versions = (s.ds_version, s.node_set_version);
            let out = f(&mut s, now);
            // Reads change no Node, so the peaks stand; only a new lock or node set is what
            // watchers wait for (waking all of them on every call costs most of a run).
            if !READS.contains(&op) {
                s.update_peaks();
            }
            (out, versions != (s.ds_version, s.node_set_version))
        };
        if changed {
            self.cluster.publish();
        }
        if cut == Cut::After {
            self.crash(op, true).await;
        }
        out
    }

    /// The daemon dies here: the supervisor drops it, so this never completes.
    async fn crash(&self, op: &'static str, after: bool) {
        let at = self.cluster.clock().now();
        {
            let mut s = self.cluster.state();
            s.crashes.push(CrashPoint {
                node: self.node.clone(),
                op,
                after,
                at,
            });
            s.signal(&self.node, Signal::Crash);
        }
        std::future::pending::<()>().await;
    }
}

impl Cluster for NodeClient {
    fn read_lock(&self) -> impl Future<Output = ClusterResult<LockRead>> + Send {
        self.call("read_lock", |s, _| {
            Ok(LockRead {
                value: s.lock.clone(),
                version: ResourceVersion(s.ds_version.to_string()),
            })
        })
    }

    fn write_lock(
        &self,
        value: Option<String>,
        expected: &ResourceVersion,
    ) -> impl Future<Output = ClusterResult<ResourceVersion>> + Send {
        let expected = expected.clone();
        self.call("write_lock", move |s, now| {
            if s.ds_version.to_string() != expected.0 {
                return Err(ClusterError::Conflict);
            }
            s.lock = value;
            s.ds_version += 1;
            s.record_lock(now);
            Ok(ResourceVersion(s.ds_version.to_string()))
        })
    }

    fn wait_for_change(&self, seen: &Seen) -> impl Future<Output = ()> + Send {
        let seen = seen.clone();
        let cluster = self.cluster.clone();
        async move {
            loop {
                let notified = cluster.shared.changes.notified();
                tokio::pin!(notified);
                // Register before looking, so a change in between is not missed.
                notified.as_mut().enable();
                let differs = {
                    let s = cluster.state();
                    s.ds_version.to_string() != seen.lock.0
                        || s.node_set_version.to_string() != seen.node_set.0
                };
                if differs {
                    break;
                }
                notified.await;
            }
            let latency = {
                let mut s = cluster.state();
                let timings = s.timings;
                s.rng.duration(timings.api_latency)
            };
            cluster.clock().sleep(latency).await;
        }
    }

    fn get_node(&self, name: &str) -> impl Future<Output = ClusterResult<Option<Node>>> + Send {
        let name = name.to_owned();
        self.call("get_node", move |s, _| {
            Ok(s.nodes.get(&name).map(|n| n.node.clone()))
        })
    }

    /// Lists every Node (`wanted` is for adapters that may not list).
    /// Lists the Nodes named in `wanted` that exist, as an adapter that may not list does, or
    /// every Node after [`MemoryCluster::list_every_node`].
    fn list_nodes(
        &self,
        wanted: &[String],
    ) -> impl Future<Output = ClusterResult<NodeList>> + Send {
        let wanted = wanted.to_vec();
        self.call("list_nodes", move |s, _| {
            let nodes = if s.list_every_node {
                s.nodes.values().map(|n| n.node.clone()).collect()
            } else {
                wanted
                    .iter()
                    .filter_map(|name| s.nodes.get(name).map(|n| n.node.clone()))
                    .collect()
            };
            Ok(NodeList {
                nodes,
                set_version: ResourceVersion(s.node_set_version.to_string()),
            })
        })
    }

    fn cordon(&self, node: &str) -> impl Future<Output = ClusterResult<()>> + Send {
        let name = node.to_owned();
        self.call("cordon", move |s, now| {
            let n = s.node_mut(&name)?;
            n.node.unschedulable = true;
            n.node
                .annotations
                .insert(CORDON_MARKER_ANNOTATION.to_owned(), now.to_string());
            Ok(())
        })
    }

    fn uncordon(&self, node: &str) -> impl Future<Output = ClusterResult<()>> + Send {
        let name = node.to_owned();
        self.call("uncordon", move |s, now| {
            let n = s.node_mut(&name)?;
            n.node.unschedulable = false;
            n.node.annotations.remove(CORDON_MARKER_ANNOTATION);
            s.settle(now);
            Ok(())
        })
    }

    fn patch_node(
        &self,
        node: &str,
        patch: &NodePatch,
    ) -> impl Future<Output = ClusterResult<()>> + Send {
        let name = node.to_owned();
        let patch = patch.clone();
        self.call("patch_node", move |s, _| {
            let n = s.node_mut(&name)?;
            for (k, v) in patch.annotations {
                match v {
                    Some(v) => n.node.annotations.insert(k, v),
                    None => n.node.annotations.remove(&k),
                };
            }
            n.node.labels.extend(patch.labels);
            if let Some((key, present)) = patch.prefer_no_schedule_taint {
                n.node
                    .taints
                    .retain(|t| !(t.key == key && t.effect == PREFER_NO_SCHEDULE));
                if present {
                    n.node.taints.push(Taint {
                        key,
                        effect: PREFER_NO_SCHEDULE.to_owned(),
                    });
                }
            }
            Ok(())
        })
    }

    fn list_pods(&self, node: &str) -> impl Future<Output = ClusterResult<Vec<Pod>>> + Send {
        let name = node.to_owned();
        self.call("list_pods", move |s, _| {
            Ok(s.pods
                .values()
                .filter(|p| p.node.as_deref() == Some(name.as_str()))
                .map(|p| p.pod.clone())
                .collect())
        })
    }

    fn evict(
        &self,
        namespace: &str,
        name: &str,
        _grace_period_seconds: Option<u32>,
    ) -> impl Future<Output = ClusterResult<Eviction>> + Send {
        let key = (namespace.to_owned(), name.to_owned());
        self.call("evict", move |s, now| {
            let Some(p) = s.pods.get(&key) else {
                return Ok(Eviction::Gone);
            };
            if p.gone_at.is_some() {
                return Ok(Eviction::Evicted);
            }
            if let Err(why) = s.budget_allows(p, now) {
                return Ok(Eviction::Blocked(why));
            }
            s.remove_pod(&key, now, true);
            s.settle(now);
            Ok(Eviction::Evicted)
        })
    }

    fn emit_event(&self, event: Event) -> impl Future<Output = ClusterResult<()>> + Send {
        self.call("emit_event", move |s, now| {
            s.events.push((now, event));
            Ok(())
        })
    }

    fn workload_health(
        &self,
        workload: &Workload,
    ) -> impl Future<Output = ClusterResult<WorkloadHealth>> + Send {
        let workload = workload.clone();
        self.call("workload_health", move |s, now| {
            Ok(s.workload_health(&workload, now))
        })
    }
}

impl Host for NodeClient {
    fn reboot_required(&self) -> impl Future<Output = bool> + Send {
        let required = self.cluster.sentinel(&self.node);
        std::future::ready(required)
    }

    fn alert_blockers(&self) -> impl Future<Output = Vec<String>> + Send {
        std::future::ready(Vec::new())
    }

    fn notify(&self, message: String) -> impl Future<Output = ()> + Send {
        let now = self.cluster.clock().now();
        self.cluster
            .state()
            .notifications
            .push((now, self.node.clone(), message));
        std::future::ready(())
    }

    fn sentinel_changed(&self) -> impl Future<Output = ()> + Send {
        let watch = self
            .cluster
            .state()
            .nodes
            .get(&self.node)
            .map(|n| n.sentinel_watch.clone());
        async move {
            match watch {
                Some(watch) => watch.notified().await,
                None => std::future::pending().await,
            }
        }
    }

    fn reboot(&self) -> impl Future<Output = Result<(), String>> + Send {
        let now = self.cluster.clock().now();
        {
            let mut s = self.cluster.state();
            s.reboots.entry(self.node.clone()).or_default().push(now);
            if let Some(n) = s.nodes.get_mut(&self.node) {
                n.down = true;
                n.node.ready = false;
            }
            s.update_peaks();
            s.signal(&self.node, Signal::Reboot);
        }
        async {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Timestamp {
        "2026-11-22T03:00:00Z".parse().unwrap()
    }

    fn cluster() -> MemoryCluster {
        let timings = Timings {
            api_latency: (SignedDuration::ZERO, SignedDuration::ZERO),
            ..Timings::default()
        };
        MemoryCluster::new(1, origin(), timings, Chaos::default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_write_at_an_old_version_conflicts() {
        let c = cluster();
        let client = c.client("n1");
        let read = client.read_lock().await.unwrap();
        client
            .write_lock(Some("{\"nodeID\":\"n1\"}".into()), &read.version)
            .await
            .unwrap();
        let again = client.write_lock(None, &read.version).await;
        assert_eq!(again, Err(ClusterError::Conflict));
        assert_eq!(c.lock_holders(), ["n1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_refuses_an_eviction_until_the_replacement_is_ready() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        c.add_node(NodeSpec::worker("n2"));
        c.add_pod(
            "default",
            "web-a",
            "web",
            "n1",
            Owner::Other("web-rs".into()),
        );
        c.add_pod(
            "default",
            "web-b",
            "web",
            "n1",
            Owner::Other("web-rs".into()),
        );
        c.add_budget("default", "web", 1);
        let client = c.client("n1");
        client.cordon("n1").await.unwrap();
        assert_eq!(
            client.evict("default", "web-a", None).await.unwrap(),
            Eviction::Evicted
        );
        assert!(matches!(
            client.evict("default", "web-b", None).await.unwrap(),
            Eviction::Blocked(_)
        ));
        c.clock().sleep(Timings::default().pod_start.1).await;
        assert_eq!(
            client.evict("default", "web-b", None).await.unwrap(),
            Eviction::Evicted
        );
        c.clock().sleep(Timings::default().pod_termination.1).await;
        assert!(client.list_pods("n1").await.unwrap().is_empty());
        let on_n2 = c
            .pods()
            .iter()
            .filter(|(_, n)| n.as_deref() == Some("n2"))
            .count();
        assert_eq!(on_n2, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reboot_brings_the_node_back_with_a_new_boot_id_and_no_sentinel() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        let starts = Arc::new(Mutex::new(0));
        let supervisor = {
            let c = c.clone();
            let starts = starts.clone();
            tokio::spawn(async move {
                c.run_node("n1", |client| {
                    *starts.lock().unwrap() += 1;
                    async move {
                        if client.reboot_required().await {
                            let _ = client.reboot().await;
                        }
                        std::future::pending::<()>().await;
                    }
                })
                .await;
            })
        };
        c.clock().sleep(SignedDuration::from_mins(10)).await;
        let node = c.node("n1").unwrap();
        assert_eq!(node.boot_id, "n1-boot-1");
        assert!(node.ready);
        assert!(!c.sentinel("n1"));
        assert_eq!(*starts.lock().unwrap(), 2);
        c.delete_node("n1");
        supervisor.await.unwrap();
        assert_eq!(c.peaks().disrupted, 1);
    }

    #[test]
    fn the_rng_replays_a_seed() {
        let draw = |seed| {
            let mut r = SimRng::new(seed);
            (0..5).map(|_| r.between(0, 1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
