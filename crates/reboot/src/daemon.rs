//! The daemon loop: observe, [`decide`], act, wait. It holds no decision of its own.
//!
//! Each turn ([`Daemon::tick`]) reads the sentinel, the Node, the lock, the Node list, the
//! blockers, the window and the clock, asks [`decide`] for the next [`Step`], performs it
//! through the [`Cluster`] and [`Host`] ports and says when to look again ([`Wake`]). What the
//! loop keeps in memory is only what may be lost: the drain in progress. Everything else is
//! re-read, so a crash at any point resumes from the cluster.
//!
//! Where it departs from kured's loop:
//! - **Hand-over by watch.** A node waiting for the lock sleeps until the lock annotation (or
//!   the set of Nodes: a deleted holder frees its slot) changes, or a holder's TTL runs out,
//!   instead of until its next hourly tick. The released slot is taken within one watch
//!   delivery and one conditional write (within a few seconds of polling where the daemon
//!   may not watch, as under kured's chart RBAC: [`crate::access`]).
//! - **The sentinel is watched.** Besides the check every `--period`, a wait ends as soon as
//!   the sentinel file appears or goes ([`Host::sentinel_changed`], inotify on a real node).
//! - **Idle is free.** A node whose sentinel says no reboot is needed, and whose last look at
//!   the cluster found nothing of its own to finish, makes no API call at all; with
//!   `--reboot-on-request` it reads its own Node once every [`REQUEST_POLL`] for a
//!   `drydock reboot now` request ([`crate::request`]), and nothing else.
//! - **Drain like `kubectl drain`, bounded.** Pods owned by a DaemonSet and mirror pods are
//!   skipped; each pod is evicted through the Eviction API; a PodDisruptionBudget refusal
//!   (429) is retried after [`PDB_RETRY`] (kured ≥ 1.22 retries in a tight loop); evicted
//!   pods are waited for; `--drain-timeout` ends the drain. The lease is renewed between
//!   rounds, because the drain is not one blocking call.
//! - **Health-gated hand-over** (`--health-gate`). The drain remembers the controllers of the
//!   pods it evicted and the reboot step writes them into the lock entry; once back and
//!   uncordoned, the node keeps (and renews) its entry until they are whole again or
//!   `--health-gate-timeout` passed ([`crate::health`]), then releases it.
//! - **Uncordon first, then release** (after `--lock-release-delay`), so the spacing between
//!   reboots never keeps the node cordoned, and a crash in between leaves a held lock to
//!   finish rather than an orphaned cordon.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use jiff::{SignedDuration, Timestamp};
use tracing::{debug, info, warn};

use crate::Result;
use crate::cluster::{
    Clock, Cluster, ClusterError, Event, EventKind, Eviction, Host, Node, NodeList, NodePatch,
    Owner, Pod, PodPhase, ResourceVersion, Seen,
};
use crate::config::{Config, DrainConfig, MessageTemplates};
use crate::forecast::REBOOT_DURATION_ANNOTATION;
use crate::health::{self, Workload, WorkloadHealth};
use crate::lock::{Busy, Lock, LockEntry, NodeDirectory, ZoneView};
use crate::machine::{
    BlockReason, DrainStatus, HealthGate, NodeFacts, Observation, REBOOT_GRACE, RENEW_DIVISOR,
    ReleaseReason, Step, decide,
};
use crate::request::{REBOOT_REQUEST_ANNOTATION, REQUEST_POLL, RequestState};

/// How long a drain waits before retrying an eviction a PodDisruptionBudget refused. It is
/// the 5 s kubectl's drain library waited before v0.35 made the delay the caller's choice.
pub const PDB_RETRY: SignedDuration = SignedDuration::from_secs(5);

/// How often a drain checks whether evicted pods are gone (kubectl polls every second).
pub const DELETE_POLL: SignedDuration = SignedDuration::from_secs(1);

/// The first wait after a failed API call; it doubles up to [`ERROR_BACKOFF_MAX`].
pub const ERROR_BACKOFF_MIN: SignedDuration = SignedDuration::from_secs(1);

/// The longest wait after failed API calls: short enough to finish a hold well within a
/// lock TTL once the API server is back.
pub const ERROR_BACKOFF_MAX: SignedDuration = SignedDuration::from_secs(60);

/// After this many turns in a row that asked to look again at once (lock write conflicts),
/// the loop pauses for [`BUSY_PAUSE`]: a guard against a tight loop, never reached when
/// conflicts resolve as they should.
pub const MAX_IMMEDIATE_TURNS: u32 = 100;

/// The pause of [`MAX_IMMEDIATE_TURNS`].
pub const BUSY_PAUSE: SignedDuration = SignedDuration::from_secs(1);

/// How often a lock write is retried after conflicts while releasing, before the loop lets
/// the next turn re-decide.
const RELEASE_ATTEMPTS: u32 = 5;

/// The Node annotation recording Drydock's verified reboots (RFC 3339 times, comma
/// separated, newest last), read by the reboot-loop guard.
pub const REBOOT_HISTORY_ANNOTATION: &str = "drydock.dev/reboot-history";

/// The Node annotation naming the boot ID whose reboot was last recorded in the history, so
/// a turn repeated after a crash records it once.
pub const VERIFIED_BOOT_ANNOTATION: &str = "drydock.dev/verified-boot-id";

/// How many reboots the history keeps: more than any sensible `--max-reboots-per-day`.
pub const REBOOT_HISTORY_LEN: usize = 16;

/// kured's node annotation set while a reboot is pending (`--annotate-nodes`).
pub const KURED_REBOOT_IN_PROGRESS_ANNOTATION: &str = "weave.works/kured-reboot-in-progress";

/// kured's node annotation recording when a reboot was last needed (`--annotate-nodes`).
pub const KURED_MOST_RECENT_REBOOT_NEEDED_ANNOTATION: &str =
    "weave.works/kured-most-recent-reboot-needed";

/// When the loop looks again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// At once.
    Now,
    /// At this time.
    At(Timestamp),
    /// When the lock or the set of Nodes changes from `seen`, or at `deadline`.
    ChangeOr {
        /// What was read.
        seen: Seen,
        /// The latest time to look again anyway.
        deadline: Timestamp,
    },
}

/// Where a drain stands after one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainProgress {
    /// Every pod to drain is gone.
    Done,
    /// `--drain-timeout` passed.
    Failed(String),
    /// Pods remain: go on at this time (an eviction retry or a deletion check).
    Pending(Timestamp),
}

/// A drain in progress: per-pod eviction retry times, and the time it started for
/// `--drain-timeout`. Lost on a crash, which only restarts the drain (and its timeout).
#[derive(Clone, Debug)]
pub struct Drainer {
    started: Timestamp,
    retry_at: BTreeMap<String, Timestamp>,
    logged: BTreeSet<String>,
    evicted: BTreeSet<Workload>,
}

/// One node's reboot daemon over the ports `C` (cluster), `H` (host) and `K` (clock).
pub struct Daemon<C, H, K> {
    config: Config,
    cluster: C,
    host: H,
    clock: K,
    /// The outcome of this process's drain for the current hold.
    drain: DrainStatus,
    drainer: Option<Drainer>,
    /// The pre-reboot labels, the drain delay and the drain notification are done.
    prepared: bool,
    /// The last full look found nothing to do or undo: while the sentinel says no reboot is
    /// required, no API call is needed.
    clean: bool,
}

/// What one turn read: the inputs of [`decide`], owned, and what acting on its [`Step`] needs.
struct Turn {
    /// The time of the observation.
    now: Timestamp,
    /// When the next `--period` check is due.
    next_period: Timestamp,
    /// When a daemon with nothing to do looks again ([`Daemon::idle_wake`]).
    idle_wake: Timestamp,
    /// This node as read.
    node: Node,
    /// The sentinel or an active request asks for a reboot.
    required: bool,
    /// A maintenance window is open (or a forced request ignores it).
    window_open: bool,
    /// The lock's version as read: lock writes are conditional on it.
    version: ResourceVersion,
    /// The lock as read.
    lock: Lock,
    /// The rest of the cluster, as far as this turn needs it.
    around: Around,
}

/// What a turn read besides this node and the lock ([`Daemon::look_around`]).
struct Around {
    /// The Nodes the lock policy must know (empty when this node neither wants nor holds the
    /// lock).
    nodes: NodeList,
    /// Those Nodes' roles.
    directory: NodeDirectory,
    /// Why the blockers block (empty: nothing blocks, or they were not asked).
    blockers: Vec<String>,
    /// This node's recorded reboots.
    history: Vec<Timestamp>,
    /// Each Node's zone, when zone limits are set.
    zones: BTreeMap<String, String>,
    /// The controllers this process's drain evicted.
    evicted: Vec<Workload>,
    /// The health of the workloads a held entry in the gate waits for.
    health: Vec<(Workload, WorkloadHealth)>,
}

// === impl Drainer ===

impl Drainer {
    /// A drain starting at `now`.
    pub fn new(now: Timestamp) -> Drainer {
        Drainer {
            started: now,
            retry_at: BTreeMap::new(),
            logged: BTreeSet::new(),
            evicted: BTreeSet::new(),
        }
    }

    /// Whether the drain handles this pod: not a mirror pod, not owned by a DaemonSet, and
    /// matching `--drain-pod-selector` if set (`kubectl drain --ignore-daemonsets --force`).
    pub fn drains(pod: &Pod, config: &DrainConfig) -> bool {
        !pod.mirror
            && pod.owner != Owner::DaemonSet
            && config
                .pod_selector
                .as_ref()
                .is_none_or(|s| s.matches(&pod.labels))
    }

    /// The controllers of the pods this drain evicted (or found terminating), in order.
    pub fn evicted(&self) -> Vec<Workload> {
        self.evicted.iter().cloned().collect()
    }

    /// Remembers an evicted pod's controller (bare pods have none to wait for).
    fn remember(&mut self, pod: &Pod) {
        if let Owner::Other(controller) = &pod.owner {
            self.evicted.insert(Workload {
                namespace: pod.namespace.clone(),
                controller: controller.clone(),
            });
        }
    }

    /// One round: evicts every remaining pod that is due, and says when to go on.
    ///
    /// # Errors
    ///
    /// A failed API call; the drain can go on with another round.
    pub async fn round<C: Cluster>(
        &mut self,
        cluster: &C,
        node: &str,
        config: &DrainConfig,
        now: Timestamp,
    ) -> std::result::Result<DrainProgress, ClusterError> {
        let deadline = config
            .timeout
            .filter(|t| t.is_positive())
            .and_then(|t| self.started.checked_add(t).ok());
        if deadline.is_some_and(|d| now >= d) {
            return Ok(DrainProgress::Failed("global timeout reached".to_owned()));
        }
        let pods: Vec<Pod> = cluster
            .list_pods(node)
            .await?
            .into_iter()
            .filter(|p| Drainer::drains(p, config))
            .collect();
        if pods.is_empty() {
            info!(node, "drained");
            return Ok(DrainProgress::Done);
        }
        // Poll for deletions only while a pod is terminating; otherwise sleep until the
        // first eviction retry.
        let poll = now.checked_add(DELETE_POLL).unwrap_or(now);
        let mut next: Option<Timestamp> = None;
        for pod in &pods {
            let key = format!("{}/{}", pod.namespace, pod.name);
            let wake = if pod.terminating {
                self.remember(pod);
                if self.logged.insert(format!("{key}@{}", pod.uid)) {
                    info!(node, pod = %key, "waiting for pod to be deleted");
                }
                poll
            } else if let Some(retry) = self.retry_at.get(&key).filter(|t| **t > now) {
                *retry
            } else {
                match cluster
                    .evict(&pod.namespace, &pod.name, config.grace_period_seconds)
                    .await?
                {
                    Eviction::Evicted => {
                        self.retry_at.remove(&key);
                        self.remember(pod);
                        info!(node, pod = %key, "evicting pod");
                        poll
                    }
                    Eviction::Gone => {
                        self.retry_at.remove(&key);
                        poll
                    }
                    Eviction::Blocked(why) => {
                        let retry = now.checked_add(PDB_RETRY).unwrap_or(now);
                        self.retry_at.insert(key.clone(), retry);
                        info!(node, pod = %key, reason = %why, "eviction refused, will retry after 5s");
                        retry
                    }
                }
            };
            next = Some(next.map_or(wake, |n| n.min(wake)));
        }
        let next = next.unwrap_or(poll);
        Ok(DrainProgress::Pending(
            deadline.map_or(next, |d| next.min(d)),
        ))
    }
}

// === impl Daemon ===

impl<C: Cluster, H: Host, K: Clock> Daemon<C, H, K> {
    /// A daemon for `config.node_id`, with nothing in memory.
    pub fn new(config: Config, cluster: C, host: H, clock: K) -> Daemon<C, H, K> {
        Daemon {
            config,
            cluster,
            host,
            clock,
            drain: DrainStatus::NotStarted,
            drainer: None,
            prepared: false,
            clean: false,
        }
    }

    /// The cluster port it acts through.
    pub fn cluster(&self) -> &C {
        &self.cluster
    }

    /// Runs forever: turn, wait, turn. API errors are retried with back-off; nothing here
    /// exits the process.
    pub async fn run(&mut self) {
        let mut backoff = ERROR_BACKOFF_MIN;
        let mut immediate = 0_u32;
        loop {
            match self.tick().await {
                Ok(Wake::Now) if immediate >= MAX_IMMEDIATE_TURNS => {
                    warn!(node = %self.config.node_id, "lock keeps changing; pausing");
                    immediate = 0;
                    self.clock.sleep(BUSY_PAUSE).await;
                }
                Ok(wake) => {
                    backoff = ERROR_BACKOFF_MIN;
                    immediate = if wake == Wake::Now { immediate + 1 } else { 0 };
                    self.wait(wake).await;
                }
                Err(error) => {
                    warn!(node = %self.config.node_id, %error, "turn failed; retrying");
                    self.clock.sleep(backoff).await;
                    backoff = (backoff * 2).min(ERROR_BACKOFF_MAX);
                }
            }
        }
    }

    /// Waits as `wake` says.
    pub async fn wait(&self, wake: Wake) {
        match wake {
            Wake::Now => {}
            Wake::At(t) => {
                tokio::select! {
                    biased;
                    () = self.host.sentinel_changed() => {
                        debug!(node = %self.me(), "sentinel changed; looking now");
                    }
                    () = self.clock.sleep_until(t) => {}
                }
            }
            Wake::ChangeOr { seen, deadline } => {
                tokio::select! {
                    biased;
                    () = self.cluster.wait_for_change(&seen) => {}
                    () = self.host.sentinel_changed() => {
                        debug!(node = %self.me(), "sentinel changed; looking now");
                    }
                    () = self.clock.sleep_until(deadline) => {}
                }
            }
        }
    }

    fn me(&self) -> &str {
        &self.config.node_id
    }

    fn at(&self, now: Timestamp, after: SignedDuration) -> Timestamp {
        now.checked_add(after).unwrap_or(now)
    }

    fn forget_hold(&mut self) {
        self.drain = DrainStatus::NotStarted;
        self.drainer = None;
        self.prepared = false;
    }

    /// One turn: observe, decide, act on the [`Step`] decided. Returns when to look again.
    ///
    /// # Errors
    ///
    /// A failed API call (the caller backs off and tries again).
    pub async fn tick(&mut self) -> Result<Wake> {
        let now = self.clock.now();
        let turn = match self.observe(now).await? {
            ControlFlow::Break(wake) => return Ok(wake),
            ControlFlow::Continue(turn) => turn,
        };
        let step = decide(&self.observation(&turn))?;
        debug!(node = %self.me(), ?step, "decided");
        self.clean = false;
        if turn.required && matches!(step, Step::WaitForLock(_) | Step::Acquire(_)) {
            info!(node = %self.me(), "Reboot required");
            self.annotate_reboot_needed(&turn.node, now).await?;
        }
        self.act(step, &turn).await
    }

    /// Reads what this turn decides on: the sentinel, the Node (and its request), the lock,
    /// then what is around ([`Daemon::look_around`]). Breaks with the wake when there is
    /// nothing to decide: an idle node, its Node missing, or a lock it cannot use.
    async fn observe(&mut self, now: Timestamp) -> Result<ControlFlow<Wake, Turn>> {
        let next_period = self.at(now, self.config.period);
        let sentinel = self.host.reboot_required().await;
        if self.clean && !sentinel && !self.config.reboot_on_request {
            debug!(node = %self.me(), "Reboot not required");
            return Ok(ControlFlow::Break(Wake::At(next_period)));
        }
        let me = self.config.node_id.clone();
        let Some(node) = self.cluster.get_node(&me).await? else {
            warn!(node = %me, "own Node not found");
            return Ok(ControlFlow::Break(Wake::At(next_period)));
        };
        let request = self.request(&node);
        let required = sentinel || request.is_active();
        let idle_wake = self.idle_wake(now, next_period);
        if self.clean && !required {
            debug!(node = %me, "Reboot not required");
            return Ok(ControlFlow::Break(Wake::At(idle_wake)));
        }
        let read = self.cluster.read_lock().await?;
        let lock = match Lock::decode_for(read.value.as_deref(), &self.config.lock.policy) {
            Ok(lock) => lock,
            Err(error) => {
                warn!(node = %me, %error, "cannot use the lock");
                self.event(
                    EventKind::Warning,
                    "RebootLockUnreadable",
                    error.to_string(),
                )
                .await;
                return Ok(ControlFlow::Break(Wake::At(next_period)));
            }
        };
        if lock.entry(&me).is_none() {
            self.forget_hold();
        }
        // A forced request starts outside the window; nothing else about it is special.
        let window_open = self.config.schedule.contains(now) || request.is_forced();
        let around = self
            .look_around(&node, &lock, required, window_open)
            .await?;
        Ok(ControlFlow::Continue(Turn {
            now,
            next_period,
            idle_wake,
            node,
            required,
            window_open,
            version: read.version,
            lock,
            around,
        }))
    }

    /// Reads what the decision needs besides this node and the lock: the Nodes (when this node
    /// wants or holds the lock), the blockers (only when they could stop a start now), and the
    /// health of the workloads a held entry waits for (with the gate on).
    async fn look_around(
        &self,
        node: &Node,
        lock: &Lock,
        required: bool,
        window_open: bool,
    ) -> Result<Around> {
        let me = self.me();
        let held = lock.entry(me);
        let nodes = if required || held.is_some() {
            let mut nodes = self.cluster.list_nodes(&others(lock, me)).await?;
            if !nodes.nodes.iter().any(|n| n.name == me) {
                nodes.nodes.push(node.clone());
            }
            nodes
        } else {
            NodeList::default()
        };
        let blockers = if required && window_open && held.is_none() {
            self.blockers().await?
        } else {
            Vec::new()
        };
        let zone_config = &self.config.zones;
        let zones: BTreeMap<String, String> = if zone_config.limits.is_active() {
            nodes
                .nodes
                .iter()
                .filter_map(|n| Some((n.name.clone(), n.labels.get(&zone_config.label)?.clone())))
                .collect()
        } else {
            BTreeMap::new()
        };
        let evicted = self
            .drainer
            .as_ref()
            .map(Drainer::evicted)
            .unwrap_or_default();
        let health = match (self.config.health_gate, held) {
            (Some(_), Some(entry)) => self.gate_health(entry).await?,
            _ => Vec::new(),
        };
        Ok(Around {
            directory: nodes.directory(),
            nodes,
            blockers,
            history: reboot_history(node),
            zones,
            evicted,
            health,
        })
    }

    /// What [`decide`] is given: the turn's reads and the configuration.
    fn observation<'a>(&'a self, turn: &'a Turn) -> Observation<'a> {
        let zone_config = &self.config.zones;
        let my_zone = turn
            .node
            .labels
            .get(&zone_config.label)
            .map_or("", String::as_str);
        Observation {
            node: NodeFacts {
                name: self.me(),
                role: turn.node.role(),
                boot_id: &turn.node.boot_id,
                cordon: turn.node.cordon_state(),
            },
            lock: &turn.lock,
            nodes: &turn.around.directory,
            policy: &self.config.lock.policy,
            reboot_required: turn.required,
            window_open: turn.window_open,
            blockers: &turn.around.blockers,
            recent_reboots: &turn.around.history,
            max_reboots_per_day: self.config.max_reboots_per_day,
            drain: &self.drain,
            force_reboot: self.config.drain.force_reboot,
            zone: zone_config.limits.is_active().then_some(ZoneView {
                zone: my_zone,
                limits: &zone_config.limits,
                zones: &turn.around.zones,
            }),
            health_gate: self.config.health_gate.map(|timeout| HealthGate {
                timeout,
                evicted: &turn.around.evicted,
                health: &turn.around.health,
            }),
            now: turn.now,
        }
    }

    /// Performs the step, with what it carries, and says when to look again.
    ///
    /// [`Step::VerifyAndUncordon`], [`Step::Release`] and [`Step::HandOver`] carry the lock
    /// without this node's entry, as read at the start of the turn; it is not written:
    /// [`Daemon::release`] waits `--lock-release-delay` first, after which that read may be
    /// stale, so it reads the lock again, prunes it and writes that (one lock read and one
    /// Node list more than writing the carried lock would make).
    async fn act(&mut self, step: Step, turn: &Turn) -> Result<Wake> {
        match step {
            Step::Idle => self.idle(turn).await,
            Step::WaitForWindow => self.wait_for_window(turn).await,
            Step::Blocked(reason) => Ok(self.blocked(reason, turn).await),
            Step::WaitForLock(busy) => self.wait_for_lock(&busy, turn).await,
            Step::Acquire(new) => self.acquire(&new, turn).await,
            Step::Renew(new) | Step::Adopt(new) => {
                self.write(&new, &turn.version).await?;
                Ok(Wake::Now)
            }
            Step::Cordon => self.cordon(turn).await,
            Step::Drain => self.drain_round(turn).await,
            Step::Reboot(new) => self.issue_reboot(&new, turn).await,
            Step::AwaitBoot { issued } => {
                Ok(Wake::At(self.soon(turn, self.at(issued, REBOOT_GRACE))))
            }
            Step::VerifyAndUncordon { uncordon, .. } => {
                self.verify_and_uncordon(uncordon, turn).await
            }
            Step::Release {
                reason, uncordon, ..
            } => self.end_hold(reason, uncordon, turn).await,
            Step::RestoreCordon => {
                self.cluster.uncordon(self.me()).await?;
                info!(node = %self.me(), "uncordoned: Drydock's cordon without the lock");
                Ok(Wake::Now)
            }
            Step::Recovered {
                uncordon,
                lock: new,
            } => self.recovered(uncordon, &new, turn).await,
            Step::AwaitHealth { waiting, next } => {
                let waiting = describe(&waiting);
                info!(node = %self.me(), %waiting, "holding the lock: workloads not whole yet");
                Ok(Wake::At(self.soon(turn, next)))
            }
            Step::HandOver {
                timed_out,
                uncordon,
                ..
            } => self.hand_over(&timed_out, uncordon).await,
        }
    }

    /// `t`, or the held entry's next lease renewal if that comes first.
    fn soon(&self, turn: &Turn, t: Timestamp) -> Timestamp {
        let renew_at = turn
            .lock
            .entry(self.me())
            .and_then(|entry| self.renew_at(entry));
        renew_at.map_or(t, |r| t.min(r))
    }

    /// When the held entry says the lock was taken (Drydock's entries record it).
    fn acquired(&self, turn: &Turn) -> Option<Timestamp> {
        turn.lock
            .entry(self.me())
            .and_then(|e| e.drydock.as_ref())
            .and_then(|d| d.acquired)
    }

    /// [`Step::Idle`]: no taint; nothing to do until the next period (or request poll).
    async fn idle(&mut self, turn: &Turn) -> Result<Wake> {
        info!(node = %self.me(), "Reboot not required");
        self.set_taint(&turn.node, false).await?;
        self.clean = true;
        Ok(Wake::At(turn.idle_wake))
    }

    /// [`Step::WaitForWindow`]: no taint; look again when a window opens (or sooner).
    async fn wait_for_window(&self, turn: &Turn) -> Result<Wake> {
        self.set_taint(&turn.node, false).await?;
        let opening = self.config.schedule.next_opening(turn.now);
        Ok(Wake::At(
            opening.map_or(turn.idle_wake, |o| o.min(turn.idle_wake)),
        ))
    }

    /// [`Step::Blocked`]: log and report why.
    async fn blocked(&self, reason: BlockReason, turn: &Turn) -> Wake {
        let message = match reason {
            BlockReason::Blockers(why) => why.join("; "),
            BlockReason::RebootLoop { reboots } => format!(
                "Reboot blocked: the node rebooted {reboots} times in 24h and still \
                 needs a reboot; check the sentinel"
            ),
        };
        info!(node = %self.me(), "{message}");
        self.event(EventKind::Warning, "RebootBlocked", message)
            .await;
        Wake::At(turn.idle_wake)
    }

    /// [`Step::WaitForLock`]: set the taint and wait for the lock or the Nodes to change, or
    /// for the first holder's TTL to run out.
    async fn wait_for_lock(&self, busy: &Busy, turn: &Turn) -> Result<Wake> {
        info!(node = %self.me(), "{busy}");
        self.set_taint(&turn.node, true).await?;
        let expiry = turn
            .lock
            .holders()
            .iter()
            .filter(|e| e.ttl.is_positive())
            .filter_map(|e| e.created.checked_add(e.ttl).ok())
            .filter(|t| *t > turn.now)
            .min();
        Ok(Wake::ChangeOr {
            seen: Seen {
                lock: turn.version.clone(),
                node_set: turn.around.nodes.set_version.clone(),
            },
            deadline: expiry.map_or(turn.next_period, |e| e.min(turn.next_period)),
        })
    }

    /// [`Step::Acquire`]: write the lock it carries.
    async fn acquire(&self, new: &Lock, turn: &Turn) -> Result<Wake> {
        if self.write(new, &turn.version).await? {
            info!(node = %self.me(), "acquired the reboot lock");
            self.event(
                EventKind::Normal,
                "RebootLockAcquired",
                "took the lock".into(),
            )
            .await;
        }
        Ok(Wake::Now)
    }

    /// [`Step::Cordon`]: prepare, then cordon.
    async fn cordon(&mut self, turn: &Turn) -> Result<Wake> {
        self.prepare(&turn.node).await?;
        self.cluster.cordon(self.me()).await?;
        info!(node = %self.me(), "cordoned");
        Ok(Wake::Now)
    }

    /// [`Step::Drain`]: one round of the drain (prepared first if the cordon was not ours).
    async fn drain_round(&mut self, turn: &Turn) -> Result<Wake> {
        if !self.prepared {
            self.prepare(&turn.node).await?;
        }
        let me = self.config.node_id.clone();
        let drainer = self.drainer.get_or_insert_with(|| Drainer::new(turn.now));
        match drainer
            .round(&self.cluster, &me, &self.config.drain, turn.now)
            .await?
        {
            DrainProgress::Done => {
                self.drain = DrainStatus::Succeeded;
                Ok(Wake::Now)
            }
            DrainProgress::Failed(why) => {
                warn!(node = %me, reason = %why, "drain failed");
                self.drain = DrainStatus::Failed(why);
                Ok(Wake::Now)
            }
            DrainProgress::Pending(next) => Ok(Wake::At(self.soon(turn, next))),
        }
    }

    /// [`Step::Reboot`]: write the lock it carries (recording the reboot), then reboot.
    async fn issue_reboot(&self, new: &Lock, turn: &Turn) -> Result<Wake> {
        if self.write(new, &turn.version).await? {
            self.reboot().await;
        }
        Ok(Wake::Now)
    }

    /// [`Step::VerifyAndUncordon`]: finish the reboot and release the lock.
    async fn verify_and_uncordon(&mut self, uncordon: bool, turn: &Turn) -> Result<Wake> {
        let acquired = self.acquired(turn);
        self.finish_reboot(&turn.node, uncordon, acquired, turn.now)
            .await?;
        self.release().await?;
        self.forget_hold();
        Ok(Wake::Now)
    }

    /// [`Step::Release`]: uncordon if asked, report why, release the lock, and look again
    /// when the reason allows a new start.
    async fn end_hold(
        &mut self,
        reason: ReleaseReason,
        uncordon: bool,
        turn: &Turn,
    ) -> Result<Wake> {
        let me = self.config.node_id.clone();
        if uncordon {
            self.cluster.uncordon(&me).await?;
        }
        let message = release_message(&reason);
        warn!(node = %me, "{message}");
        self.event(EventKind::Warning, "RebootAbandoned", message.clone())
            .await;
        if matches!(reason, ReleaseReason::DrainFailed(_)) {
            self.host.notify(format!("Node {me}: {message}")).await;
        }
        self.release().await?;
        self.forget_hold();
        Ok(match reason {
            ReleaseReason::NoLongerRequired => Wake::Now,
            ReleaseReason::WindowClosed => Wake::At(
                self.config
                    .schedule
                    .next_opening(turn.now)
                    .map_or(turn.next_period, |o| o.min(turn.next_period)),
            ),
            ReleaseReason::DrainFailed(_) | ReleaseReason::RebootDidNotHappen { .. } => {
                Wake::At(turn.next_period)
            }
        })
    }

    /// [`Step::Recovered`]: finish the reboot and write the lock it carries (the entry in the
    /// health gate).
    async fn recovered(&mut self, uncordon: bool, new: &Lock, turn: &Turn) -> Result<Wake> {
        let acquired = self.acquired(turn);
        self.finish_reboot(&turn.node, uncordon, acquired, turn.now)
            .await?;
        if self.write(new, &turn.version).await? {
            info!(node = %self.me(), "back; holding the lock until the evicted workloads are whole");
            self.event(
                EventKind::Normal,
                "RebootHealthGate",
                "waiting for the evicted workloads to be whole again".into(),
            )
            .await;
        }
        self.forget_hold();
        Ok(Wake::Now)
    }

    /// [`Step::HandOver`]: uncordon if asked, warn and notify on a timeout, release the lock.
    async fn hand_over(
        &mut self,
        timed_out: &[(Workload, String)],
        uncordon: bool,
    ) -> Result<Wake> {
        let me = self.config.node_id.clone();
        if uncordon {
            self.cluster.uncordon(&me).await?;
        }
        if timed_out.is_empty() {
            info!(node = %me, "the evicted workloads are whole; handing the lock on");
        } else {
            let message = format!(
                "health gate timed out; handing the lock on while {}",
                describe(timed_out)
            );
            warn!(node = %me, "{message}");
            self.event(
                EventKind::Warning,
                "RebootHealthGateTimeout",
                message.clone(),
            )
            .await;
            self.host.notify(format!("Node {me}: {message}")).await;
        }
        self.release().await?;
        self.forget_hold();
        Ok(Wake::Now)
    }

    /// The health of the workloads a held entry in the gate recorded (none before the gate).
    async fn gate_health(&self, entry: &LockEntry) -> Result<Vec<(Workload, WorkloadHealth)>> {
        let Some(fields) = entry.drydock.as_ref().filter(|d| d.back_since.is_some()) else {
            return Ok(Vec::new());
        };
        let (workloads, errors) = health::parse_evicted(&fields.evicted);
        for error in errors {
            warn!(node = %self.me(), %error, "not waiting for this workload");
        }
        let mut health = Vec::with_capacity(workloads.len());
        for workload in workloads {
            // A failed read holds the gate, never past its timeout: the turn goes on to decide.
            let h = match self.cluster.workload_health(&workload).await {
                Ok(h) => h,
                Err(e) => WorkloadHealth::Unreadable(e.to_string()),
            };
            health.push((workload, h));
        }
        Ok(health)
    }

    /// The Node's on-demand reboot request, when `--reboot-on-request` is on.
    fn request(&self, node: &Node) -> RequestState {
        if !self.config.reboot_on_request {
            return RequestState::None;
        }
        let annotation = node.annotations.get(REBOOT_REQUEST_ANNOTATION);
        let state = RequestState::of(annotation.map(String::as_str), &node.boot_id);
        match &state {
            RequestState::Invalid(error) => {
                warn!(node = %self.me(), %error, "ignoring the reboot request");
            }
            RequestState::Active(r) => {
                debug!(node = %self.me(), requested = %r.requested, force = r.force, "reboot requested");
            }
            RequestState::None => {}
        }
        state
    }

    /// When a daemon with nothing to do looks again: at its next period, and every
    /// [`REQUEST_POLL`] with `--reboot-on-request`.
    fn idle_wake(&self, now: Timestamp, next_period: Timestamp) -> Timestamp {
        if self.config.reboot_on_request {
            next_period.min(self.at(now, REQUEST_POLL))
        } else {
            next_period
        }
    }

    /// When a held entry's lease is renewed next (none without a TTL).
    fn renew_at(&self, entry: &LockEntry) -> Option<Timestamp> {
        let ttl = self.config.lock.policy.ttl;
        ttl.is_positive()
            .then(|| entry.created.checked_add(ttl / RENEW_DIVISOR).ok())
            .flatten()
    }

    /// Writes the lock; `false` when another writer got there first (look again).
    async fn write(&self, lock: &Lock, version: &ResourceVersion) -> Result<bool> {
        match self.cluster.write_lock(lock.encode()?, version).await {
            Ok(_) => Ok(true),
            Err(ClusterError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes this node's entry (and entries whose Node is gone or whose TTL passed) after
    /// `--lock-release-delay`, re-reading on conflicts.
    async fn release(&self) -> Result<()> {
        let delay = self.config.lock.release_delay;
        if delay.is_positive() {
            self.clock.sleep(delay).await;
        }
        for _ in 0..RELEASE_ATTEMPTS {
            let read = self.cluster.read_lock().await?;
            let lock = Lock::decode_for(read.value.as_deref(), &self.config.lock.policy)?;
            if lock.entry(self.me()).is_none() {
                return Ok(());
            }
            let nodes = self.cluster.list_nodes(&others(&lock, self.me())).await?;
            let (pruned, _) = lock
                .release(self.me())?
                .prune(&nodes.directory(), self.clock.now());
            if self.write(&pruned, &read.version).await? {
                info!(node = %self.me(), "released the reboot lock");
                return Ok(());
            }
        }
        Ok(())
    }

    /// The reboot is verified: uncordon (when the cordon was made for it), record it in the
    /// history once, apply the post-reboot labels and send the uncordon notification.
    async fn finish_reboot(
        &self,
        node: &Node,
        uncordon: bool,
        acquired: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let me = self.me();
        if uncordon {
            self.cluster.uncordon(me).await?;
        }
        let mut patch = NodePatch::default();
        let recorded = node.annotations.get(VERIFIED_BOOT_ANNOTATION);
        if recorded != Some(&node.boot_id) {
            // How long the hold took, for `drydock reboot status`'s forecast.
            if let Some(acquired) = acquired.filter(|a| *a <= now) {
                let seconds = now.duration_since(acquired).as_secs().max(1);
                patch.annotations.insert(
                    REBOOT_DURATION_ANNOTATION.to_owned(),
                    Some(seconds.to_string()),
                );
            }
            let mut history = reboot_history(node);
            history.push(now);
            let skip = history.len().saturating_sub(REBOOT_HISTORY_LEN);
            let text: Vec<String> = history.iter().skip(skip).map(|t| t.to_string()).collect();
            patch
                .annotations
                .insert(REBOOT_HISTORY_ANNOTATION.to_owned(), Some(text.join(",")));
            patch.annotations.insert(
                VERIFIED_BOOT_ANNOTATION.to_owned(),
                Some(node.boot_id.clone()),
            );
        }
        if self.config.annotate_nodes
            && node
                .annotations
                .contains_key(KURED_REBOOT_IN_PROGRESS_ANNOTATION)
        {
            patch
                .annotations
                .insert(KURED_REBOOT_IN_PROGRESS_ANNOTATION.to_owned(), None);
        }
        if self.config.reboot_on_request && node.annotations.contains_key(REBOOT_REQUEST_ANNOTATION)
        {
            // Satisfied by this reboot (and inactive anyway under the new boot ID).
            patch
                .annotations
                .insert(REBOOT_REQUEST_ANNOTATION.to_owned(), None);
        }
        if uncordon {
            for label in &self.config.post_reboot_labels {
                patch.labels.insert(label.key.clone(), label.value.clone());
            }
        }
        if !patch.is_empty() {
            self.cluster.patch_node(me, &patch).await?;
        }
        info!(node = %me, boot_id = %node.boot_id, "rebooted (boot ID changed)");
        self.event(EventKind::Normal, "Rebooted", "the boot ID changed".into())
            .await;
        if uncordon {
            let template = &self.config.notify.templates.uncordon;
            self.host
                .notify(MessageTemplates::render(template, me))
                .await;
        }
        Ok(())
    }

    /// Before the cordon (or, on a node already cordoned, before the drain): pre-reboot
    /// labels, `--drain-delay`, and the drain notification.
    async fn prepare(&mut self, node: &Node) -> Result<()> {
        let me = self.config.node_id.clone();
        let mut patch = NodePatch::default();
        for label in &self.config.pre_reboot_labels {
            if node.labels.get(&label.key) != Some(&label.value) {
                patch.labels.insert(label.key.clone(), label.value.clone());
            }
        }
        if !patch.is_empty() {
            self.cluster.patch_node(&me, &patch).await?;
        }
        if self.config.drain.delay.is_positive() {
            self.clock.sleep(self.config.drain.delay).await;
        }
        let message = MessageTemplates::render(&self.config.notify.templates.drain, &me);
        info!(node = %me, "{message}");
        self.host.notify(message.clone()).await;
        self.event(EventKind::Normal, "Draining", message).await;
        self.prepared = true;
        Ok(())
    }

    /// The lock records the reboot: notify, wait `--reboot-delay`, reboot.
    async fn reboot(&self) {
        let me = self.me();
        let message = MessageTemplates::render(&self.config.notify.templates.reboot, me);
        self.event(EventKind::Normal, "Rebooting", message.clone())
            .await;
        self.host.notify(message).await;
        if self.config.reboot_delay.is_positive() {
            self.clock.sleep(self.config.reboot_delay).await;
        }
        info!(node = %me, "Triggering reboot for node {me}");
        if let Err(error) = self.host.reboot().await {
            warn!(node = %me, %error, "reboot failed; retried after the grace period");
            self.event(EventKind::Warning, "RebootFailed", error).await;
        }
    }

    /// Why blockers block now: matching pods on this node, then the alert blocker.
    async fn blockers(&self) -> Result<Vec<String>> {
        let mut why = Vec::new();
        let selectors = &self.config.blockers.pod_selectors;
        if !selectors.is_empty() {
            let pods = self.cluster.list_pods(self.me()).await?;
            let names: Vec<&str> = pods
                .iter()
                .filter(|p| !p.phase.is_terminal() && p.phase != PodPhase::Unknown)
                .filter(|p| selectors.iter().any(|s| s.matches(&p.labels)))
                .map(|p| p.name.as_str())
                .collect();
            if !names.is_empty() {
                why.push(format!(
                    "Reboot blocked: matching pods: [{}]",
                    names.join(" ")
                ));
            }
        }
        why.extend(self.host.alert_blockers().await);
        Ok(why)
    }

    /// `--annotate-nodes`: mark the reboot as needed, once.
    async fn annotate_reboot_needed(&self, node: &Node, now: Timestamp) -> Result<()> {
        if !self.config.annotate_nodes
            || node
                .annotations
                .contains_key(KURED_REBOOT_IN_PROGRESS_ANNOTATION)
        {
            return Ok(());
        }
        let stamp = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
        let mut patch = NodePatch::default();
        for key in [
            KURED_REBOOT_IN_PROGRESS_ANNOTATION,
            KURED_MOST_RECENT_REBOOT_NEEDED_ANNOTATION,
        ] {
            patch
                .annotations
                .insert(key.to_owned(), Some(stamp.clone()));
        }
        self.cluster.patch_node(self.me(), &patch).await?;
        Ok(())
    }

    /// `--prefer-no-schedule-taint`: set while waiting for the lock, removed otherwise. Only
    /// patches when the Node differs.
    async fn set_taint(&self, node: &Node, present: bool) -> Result<()> {
        let Some(key) = &self.config.prefer_no_schedule_taint else {
            return Ok(());
        };
        if node.has_taint(key, "PreferNoSchedule") == present {
            return Ok(());
        }
        let patch = NodePatch {
            prefer_no_schedule_taint: Some((key.clone(), present)),
            ..NodePatch::default()
        };
        self.cluster.patch_node(self.me(), &patch).await?;
        Ok(())
    }

    /// Records an Event; a failure is logged, never fatal.
    async fn event(&self, kind: EventKind, reason: &str, message: String) {
        let event = Event {
            node: self.config.node_id.clone(),
            kind,
            reason: reason.to_owned(),
            message,
        };
        if let Err(error) = self.cluster.emit_event(event).await {
            debug!(node = %self.me(), %error, "event not recorded");
        }
    }
}

/// The lock holders other than `me` and the manual pause: the Nodes the lock policy must
/// know besides its own.
fn others(lock: &Lock, me: &str) -> Vec<String> {
    lock.holders()
        .iter()
        .filter(|e| !e.is_manual())
        .map(|e| e.node_id.clone())
        .filter(|n| n != me)
        .collect()
}

/// The reboots recorded in the Node's history annotation.
pub fn reboot_history(node: &Node) -> Vec<Timestamp> {
    node.annotations
        .get(REBOOT_HISTORY_ANNOTATION)
        .map(|text| {
            text.split(',')
                .filter_map(|t| t.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The workloads a gate waits for, for logs and Events: `shop/ReplicaSet/web (1/3 ready), …`.
fn describe(waiting: &[(Workload, String)]) -> String {
    let parts: Vec<String> = waiting
        .iter()
        .map(|(w, why)| format!("{w} ({why})"))
        .collect();
    parts.join(", ")
}

fn release_message(reason: &ReleaseReason) -> String {
    match reason {
        ReleaseReason::NoLongerRequired => "reboot no longer required; lock released".into(),
        ReleaseReason::WindowClosed => {
            "maintenance window closed before the reboot; lock released".into()
        }
        ReleaseReason::DrainFailed(why) => {
            format!("drain failed ({why}); cordon restored and lock released")
        }
        ReleaseReason::RebootDidNotHappen { attempts } => format!(
            "the reboot was issued {attempts} times and the boot ID never changed; lock released"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::Cluster;
    use crate::config;
    use crate::memory::{Chaos, MemoryCluster, NodeSpec, Timings};

    fn origin() -> Timestamp {
        "2026-11-22T03:00:00Z".parse().unwrap()
    }

    fn config(node: &str, flags: &[&str]) -> Config {
        let mut argv = vec!["drydock".to_owned(), format!("--node-id={node}")];
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        config::parse(argv, &BTreeMap::new()).unwrap()
    }

    fn cluster() -> MemoryCluster {
        MemoryCluster::new(11, origin(), Timings::default(), Chaos::default())
    }

    fn start(c: &MemoryCluster, node: &str, flags: &[&str]) -> tokio::task::JoinHandle<()> {
        let c = c.clone();
        let config = config(node, flags);
        tokio::spawn(async move { c.run_drydock(config).await })
    }

    async fn sleep(c: &MemoryCluster, d: SignedDuration) {
        c.clock().sleep(d).await;
    }

    /// A budget that never allows an eviction: one replica, `minAvailable: 1`.
    fn stuck_pod(c: &MemoryCluster, node: &str) {
        c.add_pod("shop", "db-0", "db", node, Owner::Other("db-sts".into()));
        c.add_budget("shop", "db", 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_node_makes_no_api_calls_after_its_first_look() {
        let c = cluster();
        c.add_node(NodeSpec::worker("idle"));
        c.add_node(NodeSpec::worker("busy").needing_reboot());
        let tasks = [start(&c, "idle", &[]), start(&c, "busy", &[])];
        sleep(&c, SignedDuration::from_mins(1)).await;
        let first_look = c.api_calls("idle");
        assert_eq!(first_look, 2, "one Node read and one lock read");
        sleep(&c, SignedDuration::from_hours(24)).await;
        assert_eq!(c.api_calls("idle"), first_look);
        assert_eq!(c.reboots()["busy"].len(), 1);
        tasks.iter().for_each(|t| t.abort());
    }

    #[tokio::test(start_paused = true)]
    async fn a_sentinel_that_appears_is_acted_on_at_once_not_at_the_next_period() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        let task = start(&c, "n1", &["--period=1h"]);
        sleep(&c, SignedDuration::from_mins(5)).await;
        assert!(!c.reboots().contains_key("n1"));
        c.set_sentinel("n1", true);
        sleep(&c, SignedDuration::from_secs(30)).await;
        assert_eq!(
            c.reboots().get("n1").map(Vec::len),
            Some(1),
            "rebooted within 30 s of the sentinel, 55 min before the next period"
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_node_takes_the_lock_within_a_second_of_its_release() {
        let c = cluster();
        for n in ["n1", "n2", "n3"] {
            c.add_node(NodeSpec::worker(n).needing_reboot());
        }
        let tasks: Vec<_> = ["n1", "n2", "n3"].map(|n| start(&c, n, &[])).into();
        sleep(&c, SignedDuration::from_hours(1)).await;
        assert!(c.reboots().values().all(|r| r.len() == 1));
        let gaps = c.lock_idle_gaps();
        assert_eq!(gaps.len(), 2);
        assert!(
            gaps.iter().all(|g| *g < SignedDuration::from_secs(1)),
            "{gaps:?}"
        );
        tasks.iter().for_each(|t| t.abort());
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_skips_daemonset_and_mirror_pods_and_evicts_the_rest() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        c.add_node(NodeSpec::worker("n2"));
        c.add_pod("kube-system", "ds-n1", "ds", "n1", Owner::DaemonSet);
        c.add_mirror_pod("kube-system", "etcd-n1", "n1");
        c.add_pod("ops", "shell", "shell", "n1", Owner::None);
        c.add_pod("shop", "web-0", "web", "n1", Owner::Other("web-rs".into()));
        let client = c.client("n1");
        let drain = config("n1", &[]).drain;
        let mut drainer = Drainer::new(c.clock().now());
        let mut rounds = 0;
        while let DrainProgress::Pending(next) = drainer
            .round(&client, "n1", &drain, c.clock().now())
            .await
            .unwrap()
        {
            rounds += 1;
            c.clock().sleep_until(next).await;
        }
        assert!(rounds >= 1);
        let left: Vec<String> = client
            .list_pods("n1")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(left, ["ds-n1", "etcd-n1"]);
        let moved = c
            .pods()
            .into_iter()
            .filter(|(p, n)| p.labels["app"] == "web" && n.as_deref() == Some("n2"));
        assert_eq!(
            moved.count(),
            1,
            "the ReplicaSet recreated its pod elsewhere"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_refusal_is_retried_every_five_seconds_not_in_a_tight_loop() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        stuck_pod(&c, "n1");
        let client = c.client("n1");
        let drain = config("n1", &[]).drain;
        let mut drainer = Drainer::new(c.clock().now());
        let end = c.clock().now() + SignedDuration::from_mins(1);
        while c.clock().now() < end {
            let DrainProgress::Pending(next) = drainer
                .round(&client, "n1", &drain, c.clock().now())
                .await
                .unwrap()
            else {
                panic!("the drain cannot finish");
            };
            c.clock().sleep_until(next).await;
        }
        // One list and one eviction per 5 s round.
        let calls = c.api_calls("n1");
        assert!((22..=26).contains(&calls), "{calls} calls in a minute");
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_that_times_out_restores_the_cordon_releases_and_lets_the_next_node_go() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        stuck_pod(&c, "n1");
        let flags = ["--drain-timeout=2m"];
        let first = start(&c, "n1", &flags);
        sleep(&c, SignedDuration::from_secs(30)).await;
        assert_eq!(c.lock_holders(), ["n1"]);
        c.add_node(NodeSpec::worker("n2").needing_reboot());
        let second = start(&c, "n2", &flags);
        sleep(&c, SignedDuration::from_mins(15)).await;
        assert!(!c.reboots().contains_key("n1"), "no reboot without a drain");
        assert_eq!(c.reboots()["n2"].len(), 1);
        let n1 = c.node("n1").unwrap();
        assert!(!n1.unschedulable);
        assert!(
            !n1.annotations
                .contains_key(crate::machine::CORDON_MARKER_ANNOTATION)
        );
        let warned = c.events().into_iter().any(|(_, e)| {
            e.node == "n1" && e.reason == "RebootAbandoned" && e.message.contains("timeout")
        });
        assert!(warned);
        first.abort();
        second.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn force_reboot_reboots_after_the_drain_timeout() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        stuck_pod(&c, "n1");
        let task = start(&c, "n1", &["--drain-timeout=2m", "--force-reboot"]);
        sleep(&c, SignedDuration::from_mins(15)).await;
        assert_eq!(c.reboots()["n1"].len(), 1);
        assert!(c.lock_holders().is_empty());
        assert!(!c.node("n1").unwrap().unschedulable);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_ttl_is_renewed_so_nobody_takes_the_lock_during_a_long_drain() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        c.add_node(NodeSpec::worker("n2").needing_reboot());
        stuck_pod(&c, "n1");
        let flags = ["--lock-ttl=1m", "--drain-timeout=10m", "--force-reboot"];
        let first = start(&c, "n1", &flags);
        sleep(&c, SignedDuration::from_secs(10)).await;
        let second = start(&c, "n2", &flags);
        sleep(&c, SignedDuration::from_mins(40)).await;
        let history = c.lock_history();
        let first_release = history
            .iter()
            .position(|(_, h)| !h.contains(&"n1".to_owned()))
            .unwrap();
        assert!(
            history[..first_release].iter().all(|(_, h)| h == &["n1"]),
            "n2 never held the lock while n1 did"
        );
        let (released, _) = history[first_release];
        assert!(released.duration_since(origin()) > SignedDuration::from_mins(10));
        assert_eq!(c.reboots().len(), 2);
        first.abort();
        second.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_deleted_holder_frees_the_lock_for_a_waiting_node_at_once() {
        let c = cluster();
        c.add_node(NodeSpec::worker("gone"));
        c.add_node(NodeSpec::worker("n2").needing_reboot());
        c.set_lock(Some(
            r#"{"nodeID":"gone","metadata":{"unschedulable":false},"created":"2026-11-22T02:59:00Z","TTL":0}"#,
        ));
        let task = start(&c, "n2", &[]);
        sleep(&c, SignedDuration::from_mins(10)).await;
        assert_eq!(c.lock_holders(), ["gone"]);
        c.delete_node("gone");
        sleep(&c, SignedDuration::from_secs(1)).await;
        assert_eq!(c.lock_holders(), ["n2"]);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_in_the_other_format_is_reported_and_never_written() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        let multi = r#"{"maxOwners":2,"locks":[]}"#;
        c.set_lock(Some(multi));
        let task = start(&c, "n1", &[]);
        sleep(&c, SignedDuration::from_hours(3)).await;
        assert_eq!(c.lock().as_deref(), Some(multi));
        assert!(c.reboots().is_empty());
        let reported = c.events().into_iter().any(|(_, e)| {
            e.reason == "RebootLockUnreadable" && e.message.contains("--concurrency")
        });
        assert!(reported);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocking_pod_keeps_the_node_from_taking_the_lock() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        c.add_pod("shop", "db-0", "db", "n1", Owner::Other("db-sts".into()));
        let task = start(&c, "n1", &["--blocking-pod-selector=app=db"]);
        sleep(&c, SignedDuration::from_hours(3)).await;
        assert!(c.lock_history().is_empty());
        let blocked = c.events().into_iter().any(|(_, e)| {
            e.reason == "RebootBlocked" && e.message == "Reboot blocked: matching pods: [db-0]"
        });
        assert!(blocked);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_reboot_is_recorded_in_the_node_history_once_and_post_labels_applied() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        let flags = ["--post-reboot-node-labels=rebooted=yes", "--annotate-nodes"];
        let task = start(&c, "n1", &flags);
        sleep(&c, SignedDuration::from_mins(30)).await;
        let node = c.node("n1").unwrap();
        assert_eq!(reboot_history(&node).len(), 1);
        assert_eq!(node.labels["rebooted"], "yes");
        assert_eq!(node.annotations[VERIFIED_BOOT_ANNOTATION], "n1-boot-1");
        let took = crate::forecast::parse_duration_annotation(
            &node.annotations[REBOOT_DURATION_ANNOTATION],
        )
        .unwrap();
        assert!(
            took > SignedDuration::from_secs(30) && took < SignedDuration::from_mins(30),
            "{took:?}"
        );
        assert!(
            !node
                .annotations
                .contains_key(KURED_REBOOT_IN_PROGRESS_ANNOTATION)
        );
        assert!(
            node.annotations
                .contains_key(KURED_MOST_RECENT_REBOOT_NEEDED_ANNOTATION)
        );
        let sent: Vec<String> = c.notifications().into_iter().map(|(_, _, m)| m).collect();
        assert_eq!(
            sent,
            [
                "Draining node n1",
                "Rebooting node n1",
                "Node n1 rebooted & uncordoned successfully!"
            ]
        );
        task.abort();
    }

    /// `drydock reboot now` on `node`, as the annotation it writes.
    fn request(c: &MemoryCluster, node: &str, force: bool) {
        let boot_id = c.node(node).unwrap().boot_id;
        let text = crate::request::RebootRequest {
            boot_id,
            requested: c.clock().now(),
            force,
        }
        .encode()
        .unwrap();
        c.set_node_annotation(node, REBOOT_REQUEST_ANNOTATION, Some(&text));
    }

    const ON_REQUEST: &str = "--reboot-on-request";

    /// 10:00-11:00 UTC: closed at the origin (03:00).
    const CLOSED_WINDOW: [&str; 2] = ["--start-time=10:00", "--end-time=11:00"];

    #[tokio::test(start_paused = true)]
    async fn a_requested_reboot_happens_once_and_the_request_is_cleared() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        let task = start(&c, "n1", &[ON_REQUEST, "--period=1h"]);
        sleep(&c, SignedDuration::from_mins(5)).await;
        assert!(!c.reboots().contains_key("n1"));
        request(&c, "n1", false);
        sleep(&c, SignedDuration::from_mins(2)).await;
        assert_eq!(
            c.reboots().get("n1").map(Vec::len),
            Some(1),
            "picked up within a request poll, not the hourly period"
        );
        sleep(&c, SignedDuration::from_hours(3)).await;
        assert_eq!(c.reboots()["n1"].len(), 1, "one reboot per request");
        let node = c.node("n1").unwrap();
        assert!(!node.annotations.contains_key(REBOOT_REQUEST_ANNOTATION));
        assert!(!node.unschedulable);
        assert!(c.lock_holders().is_empty());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_for_the_window_unless_forced() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        let flags = [ON_REQUEST, CLOSED_WINDOW[0], CLOSED_WINDOW[1]];
        let task = start(&c, "n1", &flags);
        request(&c, "n1", false);
        sleep(&c, SignedDuration::from_hours(2)).await;
        assert!(c.lock_history().is_empty(), "the window is closed");
        request(&c, "n1", true);
        sleep(&c, SignedDuration::from_mins(2)).await;
        assert_eq!(c.reboots().get("n1").map(Vec::len), Some(1));
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_forced_request_never_passes_a_blocker_or_the_lock() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        c.add_node(NodeSpec::worker("n2"));
        c.add_pod("shop", "db-0", "db", "n1", Owner::Other("db-sts".into()));
        c.set_lock(Some(
            r#"{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-22T02:59:00Z","TTL":0}"#,
        ));
        let flags = [ON_REQUEST, CLOSED_WINDOW[0], CLOSED_WINDOW[1]];
        let blocked = start(
            &c,
            "n1",
            &[&flags[..], &["--blocking-pod-selector=app=db"]].concat(),
        );
        request(&c, "n1", true);
        request(&c, "n2", true);
        sleep(&c, SignedDuration::from_hours(1)).await;
        assert!(c.reboots().is_empty());
        assert_eq!(c.lock_holders(), ["n2"], "n1 is blocked by db-0");
        blocked.abort();
        c.set_lock(None);
        c.add_node(NodeSpec::worker("n3"));
        c.set_lock(Some(
            r#"{"nodeID":"n3","metadata":{"unschedulable":false},"created":"2026-11-22T02:59:00Z","TTL":0}"#,
        ));
        let waiting = start(&c, "n2", &flags);
        sleep(&c, SignedDuration::from_hours(1)).await;
        assert!(c.reboots().is_empty(), "n2 waits for n3's lock");
        c.set_lock(None);
        sleep(&c, SignedDuration::from_mins(2)).await;
        assert_eq!(c.reboots().get("n2").map(Vec::len), Some(1));
        waiting.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_cancelled_while_waiting_is_never_acted_on() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        c.add_node(NodeSpec::worker("n2"));
        c.set_lock(Some(
            r#"{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-22T02:59:00Z","TTL":0}"#,
        ));
        let task = start(&c, "n1", &[ON_REQUEST]);
        request(&c, "n1", false);
        sleep(&c, SignedDuration::from_mins(10)).await;
        c.set_node_annotation("n1", REBOOT_REQUEST_ANNOTATION, None);
        sleep(&c, SignedDuration::from_mins(2)).await;
        c.set_lock(None);
        sleep(&c, SignedDuration::from_hours(2)).await;
        assert!(c.reboots().is_empty());
        assert!(
            c.lock_history()
                .iter()
                .all(|(_, h)| !h.contains(&"n1".to_owned())),
            "{:?}",
            c.lock_history()
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn under_kureds_flags_a_request_is_ignored_and_idle_stays_free() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        request(&c, "n1", true);
        let task = start(&c, "n1", &[]);
        sleep(&c, SignedDuration::from_mins(1)).await;
        assert_eq!(c.api_calls("n1"), 2, "one Node read and one lock read");
        sleep(&c, SignedDuration::from_hours(24)).await;
        assert_eq!(c.api_calls("n1"), 2);
        assert!(c.reboots().is_empty());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_request_is_ignored() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        c.set_node_annotation("n1", REBOOT_REQUEST_ANNOTATION, Some("please"));
        let task = start(&c, "n1", &[ON_REQUEST]);
        sleep(&c, SignedDuration::from_hours(2)).await;
        assert!(c.reboots().is_empty());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_monthly_window_holds_the_reboot_until_the_first_sunday() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1").needing_reboot());
        // The origin is the fourth Sunday of November 2026; the next first Sunday is Dec 6.
        let task = start(&c, "n1", &["--window=first-sun 01:00-05:00"]);
        let opening: Timestamp = "2026-12-06T01:00:00Z".parse().unwrap();
        c.clock()
            .sleep_until(opening - SignedDuration::from_mins(1))
            .await;
        assert!(c.lock_history().is_empty(), "closed until the first Sunday");
        sleep(&c, SignedDuration::from_mins(30)).await;
        let reboots = c.reboots();
        assert_eq!(reboots.get("n1").map(Vec::len), Some(1));
        assert!(reboots["n1"][0] >= opening, "{:?}", reboots["n1"]);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn with_requests_on_an_idle_node_reads_only_its_node_once_a_minute() {
        let c = cluster();
        c.add_node(NodeSpec::worker("n1"));
        let task = start(&c, "n1", &[ON_REQUEST]);
        sleep(&c, SignedDuration::from_secs(30)).await;
        let first_look = c.api_calls("n1");
        assert_eq!(first_look, 2, "one Node read and one lock read");
        sleep(&c, SignedDuration::from_hours(1)).await;
        assert_eq!(
            c.api_calls("n1") - first_look,
            60,
            "one Node read per minute"
        );
        assert!(c.lock_history().is_empty());
        task.abort();
    }
}
