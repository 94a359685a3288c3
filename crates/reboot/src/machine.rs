//! The per-node reboot state machine, as a pure function from what the daemon observes to the
//! next step it takes.
//!
//! The daemon loop observes (the Node, the lock, the sentinel, the window, the blockers, the
//! node's reboot history, the outcome of its own drain) and calls [`decide`]; it performs the
//! returned [`Step`] and observes again. All progress lives in the cluster (the lock entry and
//! a cordon marker on the Node), so a restarted pod resumes where the last one stopped.
//!
//! What this adds to kured's loop (spec "Better than kured"):
//! - **Verify, don't assume.** The lock entry records the node's boot ID when it is taken; the
//!   hold ends with an uncordon only once the boot ID changed (or the sentinel is gone). A pod
//!   restart before the reboot resumes the work instead of releasing the lock.
//! - **Cordon ownership.** Drydock cordons only while it holds the lock and marks its cordon
//!   ([`CORDON_MARKER_ANNOTATION`]); it uncordons only a cordon it owns (or one kured made for a
//!   node kured found schedulable), on every path, so an operator's cordon is never undone.
//! - **A lease.** The entry is renewed while held, so a short `--lock-ttl` never strands a node.
//! - **Safety gates.** The window is re-checked right before the reboot; a node that rebooted
//!   [`Observation::max_reboots_per_day`] times in [`LOOP_GUARD_WINDOW`] and still needs one
//!   stops and reports; a node that does not hold the lock never cordons, drains or reboots.

use jiff::{SignedDuration, Timestamp};

use crate::Result;
use crate::health::{self, Gate, Workload, WorkloadHealth};
use crate::lock::{
    Acquire, AcquireRequest, Busy, Lock, LockEntry, LockPolicy, NodeDirectory, NodeRole, ZoneView,
};

/// The Node annotation the IO layer sets in the same patch as Drydock's cordon (and removes
/// with the uncordon), so a cordon Drydock made is told apart from an operator's.
pub const CORDON_MARKER_ANNOTATION: &str = "drydock.dev/cordoned-for-reboot";

/// How long after issuing the reboot the node has to go down and come back with a new boot ID
/// before Drydock concludes the reboot did not happen. systemd gives each unit 90 s to stop by
/// default, and firmware, kernel and kubelet start add minutes on large servers.
pub const REBOOT_GRACE: SignedDuration = SignedDuration::from_mins(15);

/// How many times the reboot is issued during one hold before Drydock gives up and releases
/// (a systemd inhibitor or a broken `--reboot-command` would otherwise hold the lock forever).
pub const MAX_REBOOT_ATTEMPTS: u32 = 3;

/// The reboot-loop guard counts reboots within this window ("N reboots in 24 h").
pub const LOOP_GUARD_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// The lease is renewed once `TTL / RENEW_DIVISOR` has passed since the last renewal, leaving
/// two thirds of the TTL to ride out API server trouble before it expires.
pub const RENEW_DIVISOR: i32 = 3;

/// The Node's cordon, as the IO layer reads it from `spec.unschedulable` and the marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CordonState {
    /// Schedulable.
    Schedulable,
    /// Cordoned, without Drydock's marker: by an operator, another tool, or kured.
    Cordoned,
    /// Cordoned by Drydock ([`CORDON_MARKER_ANNOTATION`] is set).
    CordonedByDrydock,
}

impl CordonState {
    /// Whether the node is cordoned at all.
    pub fn is_cordoned(self) -> bool {
        self != CordonState::Schedulable
    }
}

/// What the daemon knows about its own Node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeFacts<'a> {
    /// The node's name (`--node-id`).
    pub name: &'a str,
    /// Whether it is a control-plane node.
    pub role: NodeRole,
    /// `status.nodeInfo.bootID`.
    pub boot_id: &'a str,
    /// Its cordon.
    pub cordon: CordonState,
}

/// What became of the cordon and drain this process ran for the current hold. A restarted pod
/// starts from [`DrainStatus::NotStarted`]: draining again is harmless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainStatus {
    /// Not run yet during this hold.
    NotStarted,
    /// Every pod is gone.
    Succeeded,
    /// The cordon or drain failed or timed out (the reason is for logs and notifications).
    Failed(String),
}

/// The health gate's view (`--health-gate`): what this process's drain evicted, and the health
/// of the workloads the held entry records ([`crate::health`]).
#[derive(Clone, Copy, Debug)]
pub struct HealthGate<'a> {
    /// `--health-gate-timeout`: the longest a node back from its reboot holds the lock.
    pub timeout: SignedDuration,
    /// The workloads this process's drain evicted during the current hold.
    pub evicted: &'a [Workload],
    /// The health of each workload in the held entry's `evicted` list, read while the entry
    /// is in the gate (empty otherwise).
    pub health: &'a [(Workload, WorkloadHealth)],
}

/// Everything [`decide`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// This node.
    pub node: NodeFacts<'a>,
    /// The lock as read (with the configured format).
    pub lock: &'a Lock,
    /// The Nodes that exist, from a synced cache.
    pub nodes: &'a NodeDirectory,
    /// How the lock is taken.
    pub policy: &'a LockPolicy,
    /// The sentinel says a reboot is required.
    pub reboot_required: bool,
    /// The maintenance window is open now.
    pub window_open: bool,
    /// Why the blockers block (empty: nothing blocks).
    pub blockers: &'a [String],
    /// When this node rebooted recently (Drydock's reboot history for it).
    pub recent_reboots: &'a [Timestamp],
    /// The reboot-loop guard's limit (`--max-reboots-per-day`; `None`: no guard).
    pub max_reboots_per_day: Option<u32>,
    /// The outcome of this process's cordon and drain for the current hold.
    pub drain: &'a DrainStatus,
    /// `--force-reboot`: reboot even when the drain failed.
    pub force_reboot: bool,
    /// This node's zone and the zone limits, when any is set (`None`: kured's lock).
    pub zone: Option<ZoneView<'a>>,
    /// The health gate, when on (`None`: kured's hand-over, at once after the uncordon).
    pub health_gate: Option<HealthGate<'a>>,
    /// The time of the observation.
    pub now: Timestamp,
}

/// Why a reboot that is required does not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// The Prometheus or pod blockers object (their messages, `Reboot blocked: …`).
    Blockers(Vec<String>),
    /// The node already rebooted this many times within [`LOOP_GUARD_WINDOW`] and still
    /// needs a reboot: the sentinel is probably wrong (kured #976).
    RebootLoop {
        /// Reboots counted in the window.
        reboots: usize,
    },
}

/// Why a hold ends without (another) reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The sentinel no longer asks for a reboot.
    NoLongerRequired,
    /// The window closed before the reboot could start; it resumes in the next window.
    WindowClosed,
    /// The cordon or drain failed and `--force-reboot` is off.
    DrainFailed(String),
    /// The reboot was issued this many times and the boot ID never changed.
    RebootDidNotHappen {
        /// How many times it was issued.
        attempts: u32,
    },
}

/// The next thing the daemon does. Steps that change the lock carry the lock to write back
/// (with the resourceVersion it was read at).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// No reboot is required and nothing is left to undo.
    Idle,
    /// A reboot is required but the maintenance window is closed.
    WaitForWindow,
    /// A reboot is required but something forbids it now; report the reason.
    Blocked(BlockReason),
    /// A reboot is required and no lock slot is free; wait for the lock to change (watch), and
    /// set the PreferNoSchedule taint if configured.
    WaitForLock(Busy),
    /// Take the lock by writing this value; it records the boot ID and whether the node was
    /// already cordoned.
    Acquire(Lock),
    /// Renew the lease by writing this value.
    Renew(Lock),
    /// The held entry has no boot ID (kured wrote it, or a kured node rewrote the lock):
    /// record the current one by writing this value, then carry on.
    Adopt(Lock),
    /// Cordon the node and set [`CORDON_MARKER_ANNOTATION`], in one patch.
    Cordon,
    /// Drain the node (evictions, PDB back-off, `--drain-timeout`), then report the outcome
    /// as [`DrainStatus`].
    Drain,
    /// Write this value (it records that the reboot was issued), notify, wait
    /// `--reboot-delay`, and reboot.
    Reboot(Lock),
    /// The reboot was issued at `issued`; wait for the node to come back with a new boot ID.
    AwaitBoot {
        /// When the reboot was issued.
        issued: Timestamp,
    },
    /// The node rebooted (its boot ID changed, or the sentinel of a kured-held lock is gone):
    /// uncordon it if `uncordon`, record the reboot in its history, apply the post-reboot
    /// labels, send the uncordon notification, and release the lock by writing `lock`.
    VerifyAndUncordon {
        /// Whether to uncordon (only a cordon Drydock or kured made for the reboot).
        uncordon: bool,
        /// The lock without this node's entry.
        lock: Lock,
    },
    /// End the hold without (another) reboot: uncordon if `uncordon`, report `reason`, and
    /// release the lock by writing `lock`.
    Release {
        /// Why.
        reason: ReleaseReason,
        /// Whether to uncordon (only a cordon Drydock or kured made for the reboot).
        uncordon: bool,
        /// The lock without this node's entry.
        lock: Lock,
    },
    /// The node carries Drydock's cordon but no longer holds the lock (the lease was lost, or
    /// the pod stopped between release and uncordon): uncordon it.
    RestoreCordon,
    /// The node rebooted and its drain evicted workloads, with the health gate on: uncordon it
    /// if `uncordon`, record the reboot as [`Step::VerifyAndUncordon`] does, and keep the
    /// entry by writing `lock` (it records when the node came back).
    Recovered {
        /// Whether to uncordon (only a cordon Drydock or kured made for the reboot).
        uncordon: bool,
        /// The lock with this node's entry in the gate.
        lock: Lock,
    },
    /// The node is back but workloads it evicted are not whole yet; look again at `next`.
    AwaitHealth {
        /// The workloads still short, with why.
        waiting: Vec<(Workload, String)>,
        /// When to look again (never after the gate's timeout).
        next: Timestamp,
    },
    /// The gate opened (or timed out with `timed_out` still short: warn and notify): release
    /// the lock by writing `lock`, uncordoning first if `uncordon`.
    HandOver {
        /// The workloads still short when the timeout passed (empty: the gate opened).
        timed_out: Vec<(Workload, String)>,
        /// Whether to uncordon (the node still carries Drydock's cordon).
        uncordon: bool,
        /// The lock without this node's entry.
        lock: Lock,
    },
}

/// Whether ending a hold should uncordon the node: only a cordon Drydock made (marked), or the
/// cordon kured made for a node it recorded as schedulable (kured's own Phase A rule).
pub fn should_uncordon(entry: &LockEntry, cordon: CordonState) -> bool {
    match cordon {
        CordonState::Schedulable => false,
        CordonState::CordonedByDrydock => true,
        CordonState::Cordoned => entry.drydock.is_none() && !entry.metadata.unschedulable,
    }
}

/// How many of `reboots` fall within [`LOOP_GUARD_WINDOW`] before `now`.
pub fn reboots_in_window(reboots: &[Timestamp], now: Timestamp) -> usize {
    reboots
        .iter()
        .filter(|t| **t <= now && now.duration_since(**t) < LOOP_GUARD_WINDOW)
        .count()
}

/// Whether a held entry's lease should be renewed now.
fn needs_renewal(entry: &LockEntry, policy: &LockPolicy, now: Timestamp) -> bool {
    if !policy.ttl.is_positive() {
        return false;
    }
    let renew_after = policy.ttl / RENEW_DIVISOR;
    entry.is_expired(now) || now.duration_since(entry.created) >= renew_after
}

/// The next step for this node.
pub fn decide(obs: &Observation<'_>) -> Result<Step> {
    match obs.lock.entry(obs.node.name) {
        Some(entry) => decide_holding(obs, entry),
        None => Ok(decide_waiting(obs)),
    }
}

/// The node has an entry in the lock (even an expired one nobody has replaced).
fn decide_holding(obs: &Observation<'_>, entry: &LockEntry) -> Result<Step> {
    let me = obs.node.name;
    let uncordon = should_uncordon(entry, obs.node.cordon);
    let release = |reason| -> Result<Step> {
        Ok(Step::Release {
            reason,
            uncordon,
            lock: obs.lock.release(me)?,
        })
    };

    // The node is back and uncordoned; the entry is held until its workloads are whole.
    if let Some(since) = entry.drydock.as_ref().and_then(|d| d.back_since) {
        return decide_gate(obs, entry, since, uncordon);
    }

    // Verify: a new boot ID proves the reboot; so does a gone sentinel for an entry without
    // a recorded boot ID (kured's lock, handed over in a rollout).
    match entry.boot_id() {
        Some(recorded) if recorded != obs.node.boot_id => {
            let evicted = entry
                .drydock
                .as_ref()
                .is_some_and(|d| !d.evicted.is_empty());
            if obs.health_gate.is_some() && evicted {
                let (now, ttl) = (obs.now, obs.policy.ttl);
                return Ok(Step::Recovered {
                    uncordon,
                    lock: obs.lock.update(me, |e| {
                        e.drydock.get_or_insert_with(Default::default).back_since = Some(now);
                        e.created = now;
                        e.ttl = ttl;
                    })?,
                });
            }
            return Ok(Step::VerifyAndUncordon {
                uncordon,
                lock: obs.lock.release(me)?,
            });
        }
        Some(_) => {}
        None if !obs.reboot_required => {
            return Ok(Step::VerifyAndUncordon {
                uncordon,
                lock: obs.lock.release(me)?,
            });
        }
        None => {
            let boot_id = obs.node.boot_id.to_owned();
            let (now, ttl) = (obs.now, obs.policy.ttl);
            return Ok(Step::Adopt(obs.lock.update(me, |e| {
                let acquired = e.created;
                let fields = e.drydock.get_or_insert_with(Default::default);
                fields.boot_id = Some(boot_id);
                fields.acquired.get_or_insert(acquired);
                e.created = now;
                e.ttl = ttl;
            })?));
        }
    }

    if needs_renewal(entry, obs.policy, obs.now) {
        return Ok(Step::Renew(obs.lock.renew(me, obs.policy, obs.now)?));
    }

    let fields = entry.drydock.clone().unwrap_or_default();
    let issue_reboot = |attempts: u32| -> Result<Step> {
        let now = obs.now;
        let evicted = obs.health_gate.map_or(&[][..], |g| g.evicted);
        Ok(Step::Reboot(obs.lock.update(me, |e| {
            let f = e.drydock.get_or_insert_with(Default::default);
            f.reboot_issued = Some(now);
            f.reboot_attempts = attempts;
            record_evicted(&mut f.evicted, evicted);
        })?))
    };

    if let Some(issued) = fields.reboot_issued {
        if obs.now.duration_since(issued) < REBOOT_GRACE {
            return Ok(Step::AwaitBoot { issued });
        }
        if fields.reboot_attempts >= MAX_REBOOT_ATTEMPTS {
            return release(ReleaseReason::RebootDidNotHappen {
                attempts: fields.reboot_attempts,
            });
        }
        if !obs.reboot_required {
            return release(ReleaseReason::NoLongerRequired);
        }
        if !obs.window_open {
            return release(ReleaseReason::WindowClosed);
        }
        return issue_reboot(fields.reboot_attempts + 1);
    }

    if !obs.reboot_required {
        return release(ReleaseReason::NoLongerRequired);
    }
    // The window is checked here, on the same observation that leads to the reboot: right
    // before it, not only when the lock was taken.
    if !obs.window_open {
        return release(ReleaseReason::WindowClosed);
    }
    match obs.drain {
        DrainStatus::Failed(why) if !obs.force_reboot => {
            release(ReleaseReason::DrainFailed(why.clone()))
        }
        DrainStatus::Failed(_) => issue_reboot(1),
        _ if obs.node.cordon == CordonState::Schedulable => Ok(Step::Cordon),
        DrainStatus::NotStarted => Ok(Step::Drain),
        DrainStatus::Succeeded => issue_reboot(1),
    }
}

/// Adds `evicted` to an entry's list, sorted and without duplicates (a restarted pod drains
/// again and may find some of the same workloads).
fn record_evicted(list: &mut Vec<String>, evicted: &[Workload]) {
    list.extend(evicted.iter().map(ToString::to_string));
    list.sort();
    list.dedup();
}

/// The node's entry is in the health gate since `since`.
fn decide_gate(
    obs: &Observation<'_>,
    entry: &LockEntry,
    since: Timestamp,
    uncordon: bool,
) -> Result<Step> {
    let me = obs.node.name;
    if needs_renewal(entry, obs.policy, obs.now) {
        return Ok(Step::Renew(obs.lock.renew(me, obs.policy, obs.now)?));
    }
    // Only Drydock's own cordon is undone here: the node was uncordoned before the gate, so
    // a cordon now is one the pod did not get to undo, or an operator's.
    let uncordon = uncordon && obs.node.cordon == CordonState::CordonedByDrydock;
    let hand_over = |timed_out| -> Result<Step> {
        Ok(Step::HandOver {
            timed_out,
            uncordon,
            lock: obs.lock.release(me)?,
        })
    };
    // The gate was switched off (a rollout to kured's flags) while the entry waited in it.
    let Some(gate) = obs.health_gate else {
        return hand_over(Vec::new());
    };
    match health::decide(gate.health, since, gate.timeout, obs.now) {
        Gate::Open => hand_over(Vec::new()),
        Gate::TimedOut { waiting } => hand_over(waiting),
        Gate::Wait { waiting, next } => Ok(Step::AwaitHealth { waiting, next }),
    }
}

/// The node has no entry in the lock.
fn decide_waiting(obs: &Observation<'_>) -> Step {
    if obs.node.cordon == CordonState::CordonedByDrydock {
        return Step::RestoreCordon;
    }
    if !obs.reboot_required {
        return Step::Idle;
    }
    if let Some(limit) = obs.max_reboots_per_day {
        let reboots = reboots_in_window(obs.recent_reboots, obs.now);
        if reboots >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return Step::Blocked(BlockReason::RebootLoop { reboots });
        }
    }
    if !obs.window_open {
        return Step::WaitForWindow;
    }
    if !obs.blockers.is_empty() {
        return Step::Blocked(BlockReason::Blockers(obs.blockers.to_vec()));
    }
    let request = AcquireRequest {
        node: obs.node.name,
        role: obs.node.role,
        cordoned_before: obs.node.cordon.is_cordoned(),
        boot_id: obs.node.boot_id,
    };
    let acquired = match obs.zone {
        Some(view) => obs
            .lock
            .acquire_in_zone(&request, obs.policy, obs.nodes, obs.now, view),
        None => obs.lock.acquire(&request, obs.policy, obs.nodes, obs.now),
    };
    match acquired {
        Acquire::Take(lock) => Step::Acquire(lock),
        Acquire::Busy(busy) => Step::WaitForLock(busy),
        // Unreachable: the node has no entry, so it cannot already hold one.
        Acquire::AlreadyHeld => Step::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockFormat;
    use proptest::prelude::*;

    const ME: &str = "n1";
    const BOOT: &str = "boot-a";

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        t("2026-11-22T03:00:00Z")
    }

    fn policy() -> LockPolicy {
        LockPolicy {
            concurrency: 1,
            ttl: SignedDuration::ZERO,
            one_control_plane_at_a_time: true,
        }
    }

    fn nodes() -> NodeDirectory {
        [(ME, NodeRole::Worker), ("n2", NodeRole::Worker)]
            .into_iter()
            .collect()
    }

    /// A test scenario: owns the data an [`Observation`] borrows.
    #[derive(Debug)]
    struct Scenario {
        lock: Lock,
        nodes: NodeDirectory,
        policy: LockPolicy,
        boot_id: String,
        cordon: CordonState,
        reboot_required: bool,
        window_open: bool,
        blockers: Vec<String>,
        recent_reboots: Vec<Timestamp>,
        drain: DrainStatus,
        force_reboot: bool,
        gate: Option<SignedDuration>,
        evicted: Vec<Workload>,
        health: Vec<(Workload, WorkloadHealth)>,
        now: Timestamp,
    }

    impl Scenario {
        fn needs_reboot() -> Scenario {
            Scenario {
                lock: Lock::empty(LockFormat::Single),
                nodes: nodes(),
                policy: policy(),
                boot_id: BOOT.into(),
                cordon: CordonState::Schedulable,
                reboot_required: true,
                window_open: true,
                blockers: Vec::new(),
                recent_reboots: Vec::new(),
                drain: DrainStatus::NotStarted,
                force_reboot: false,
                gate: None,
                evicted: Vec::new(),
                health: Vec::new(),
                now: now(),
            }
        }

        fn step(&self) -> Step {
            decide(&Observation {
                node: NodeFacts {
                    name: ME,
                    role: NodeRole::Worker,
                    boot_id: &self.boot_id,
                    cordon: self.cordon,
                },
                lock: &self.lock,
                nodes: &self.nodes,
                policy: &self.policy,
                reboot_required: self.reboot_required,
                window_open: self.window_open,
                blockers: &self.blockers,
                recent_reboots: &self.recent_reboots,
                max_reboots_per_day: Some(3),
                drain: &self.drain,
                force_reboot: self.force_reboot,
                zone: None,
                health_gate: self.gate.map(|timeout| HealthGate {
                    timeout,
                    evicted: &self.evicted,
                    health: &self.health,
                }),
                now: self.now,
            })
            .unwrap()
        }

        /// Applies a step the way the daemon would, as far as the lock and the node go.
        fn apply(&mut self, step: &Step) {
            match step {
                Step::Acquire(lock)
                | Step::Renew(lock)
                | Step::Adopt(lock)
                | Step::Reboot(lock) => {
                    self.lock = lock.clone();
                }
                Step::Cordon => self.cordon = CordonState::CordonedByDrydock,
                Step::Drain => self.drain = DrainStatus::Succeeded,
                Step::Recovered { uncordon, lock } => {
                    if *uncordon {
                        self.cordon = CordonState::Schedulable;
                    }
                    self.lock = lock.clone();
                }
                Step::VerifyAndUncordon { uncordon, lock }
                | Step::HandOver { uncordon, lock, .. }
                | Step::Release { uncordon, lock, .. } => {
                    if *uncordon {
                        self.cordon = CordonState::Schedulable;
                    }
                    self.lock = lock.clone();
                    self.drain = DrainStatus::NotStarted;
                }
                Step::RestoreCordon => self.cordon = CordonState::Schedulable,
                _ => {}
            }
        }

        /// Runs steps until one does not change anything the machine sees.
        fn run(&mut self) -> Vec<Step> {
            let mut steps = Vec::new();
            for _ in 0..20 {
                let step = self.step();
                steps.push(step.clone());
                match step {
                    Step::Idle
                    | Step::WaitForWindow
                    | Step::Blocked(_)
                    | Step::WaitForLock(_)
                    | Step::AwaitHealth { .. }
                    | Step::AwaitBoot { .. } => break,
                    _ => self.apply(&step),
                }
            }
            steps
        }
    }

    fn kinds(steps: &[Step]) -> Vec<&'static str> {
        steps
            .iter()
            .map(|s| match s {
                Step::Idle => "Idle",
                Step::WaitForWindow => "WaitForWindow",
                Step::Blocked(_) => "Blocked",
                Step::WaitForLock(_) => "WaitForLock",
                Step::Acquire(_) => "Acquire",
                Step::Renew(_) => "Renew",
                Step::Adopt(_) => "Adopt",
                Step::Cordon => "Cordon",
                Step::Drain => "Drain",
                Step::Reboot(_) => "Reboot",
                Step::AwaitBoot { .. } => "AwaitBoot",
                Step::VerifyAndUncordon { .. } => "VerifyAndUncordon",
                Step::Release { .. } => "Release",
                Step::RestoreCordon => "RestoreCordon",
                Step::Recovered { .. } => "Recovered",
                Step::AwaitHealth { .. } => "AwaitHealth",
                Step::HandOver { .. } => "HandOver",
            })
            .collect()
    }

    #[test]
    fn a_node_that_needs_no_reboot_is_idle() {
        let s = Scenario {
            reboot_required: false,
            ..Scenario::needs_reboot()
        };
        assert_eq!(s.step(), Step::Idle);
    }

    #[test]
    fn a_required_reboot_runs_lock_cordon_drain_reboot_then_waits_for_the_boot() {
        let mut s = Scenario::needs_reboot();
        assert_eq!(
            kinds(&s.run()),
            ["Acquire", "Cordon", "Drain", "Reboot", "AwaitBoot"]
        );
        let entry = s.lock.entry(ME).unwrap();
        assert_eq!(entry.boot_id(), Some(BOOT));
        assert!(!entry.metadata.unschedulable);
        assert_eq!(entry.drydock.as_ref().unwrap().reboot_issued, Some(now()));
    }

    #[test]
    fn after_the_reboot_a_new_boot_id_uncordons_and_releases() {
        let mut s = Scenario::needs_reboot();
        s.run();
        s.boot_id = "boot-b".into();
        s.reboot_required = false;
        let steps = s.run();
        assert_eq!(kinds(&steps), ["VerifyAndUncordon", "Idle"]);
        assert!(matches!(
            steps[0],
            Step::VerifyAndUncordon { uncordon: true, .. }
        ));
        assert_eq!(s.lock.encode().unwrap(), None);
        assert_eq!(s.cordon, CordonState::Schedulable);
    }

    #[test]
    fn a_pod_restart_before_the_reboot_resumes_instead_of_releasing() {
        let mut s = Scenario::needs_reboot();
        s.apply(&s.step()); // Acquire
        s.apply(&s.step()); // Cordon
        // The pod restarts mid-drain: the drain outcome is forgotten, the boot ID is the same.
        s.drain = DrainStatus::NotStarted;
        assert_eq!(kinds(&s.run()), ["Drain", "Reboot", "AwaitBoot"]);
    }

    #[test]
    fn a_pod_restart_after_issuing_the_reboot_waits_for_the_boot_without_draining_again() {
        let mut s = Scenario::needs_reboot();
        s.run();
        s.drain = DrainStatus::NotStarted;
        s.now = now() + SignedDuration::from_mins(2);
        assert_eq!(s.step(), Step::AwaitBoot { issued: now() });
    }

    #[test]
    fn an_operator_cordoned_node_is_never_uncordoned() {
        let mut s = Scenario {
            cordon: CordonState::Cordoned,
            ..Scenario::needs_reboot()
        };
        assert_eq!(kinds(&s.run()), ["Acquire", "Drain", "Reboot", "AwaitBoot"]);
        assert!(s.lock.entry(ME).unwrap().metadata.unschedulable);
        s.boot_id = "boot-b".into();
        let steps = s.run();
        assert!(matches!(
            steps[0],
            Step::VerifyAndUncordon {
                uncordon: false,
                ..
            }
        ));
        assert_eq!(s.cordon, CordonState::Cordoned);
    }

    #[test]
    fn a_failed_drain_restores_the_cordon_and_releases() {
        let mut s = Scenario::needs_reboot();
        s.apply(&s.step()); // Acquire
        s.apply(&s.step()); // Cordon
        s.drain = DrainStatus::Failed("global timeout reached".into());
        let step = s.step();
        assert!(matches!(
            &step,
            Step::Release {
                reason: ReleaseReason::DrainFailed(_),
                uncordon: true,
                ..
            }
        ));
    }

    #[test]
    fn a_failed_drain_reboots_anyway_with_force_reboot() {
        let mut s = Scenario {
            force_reboot: true,
            ..Scenario::needs_reboot()
        };
        s.apply(&s.step());
        s.apply(&s.step());
        s.drain = DrainStatus::Failed("global timeout reached".into());
        assert!(matches!(s.step(), Step::Reboot(_)));
    }

    #[test]
    fn the_window_is_rechecked_right_before_the_reboot() {
        let mut s = Scenario::needs_reboot();
        s.apply(&s.step()); // Acquire
        s.apply(&s.step()); // Cordon
        s.apply(&s.step()); // Drain
        s.window_open = false;
        assert!(matches!(
            s.step(),
            Step::Release {
                reason: ReleaseReason::WindowClosed,
                uncordon: true,
                ..
            }
        ));
    }

    #[test]
    fn a_node_outside_the_window_waits_without_the_lock() {
        let s = Scenario {
            window_open: false,
            ..Scenario::needs_reboot()
        };
        assert_eq!(s.step(), Step::WaitForWindow);
    }

    #[test]
    fn blockers_stop_the_node_before_it_takes_the_lock() {
        let s = Scenario {
            blockers: vec!["Reboot blocked: matching pods: [db-0]".into()],
            ..Scenario::needs_reboot()
        };
        assert!(matches!(s.step(), Step::Blocked(BlockReason::Blockers(_))));
    }

    #[test]
    fn a_node_waits_while_another_holds_the_lock() {
        let mut other = Scenario::needs_reboot();
        let Step::Acquire(lock) = decide(&Observation {
            node: NodeFacts {
                name: "n2",
                role: NodeRole::Worker,
                boot_id: "x",
                cordon: CordonState::Schedulable,
            },
            lock: &other.lock,
            nodes: &other.nodes,
            policy: &other.policy,
            reboot_required: true,
            window_open: true,
            blockers: &[],
            recent_reboots: &[],
            max_reboots_per_day: None,
            drain: &DrainStatus::NotStarted,
            force_reboot: false,
            zone: None,
            health_gate: None,
            now: now(),
        })
        .unwrap() else {
            panic!("n2 should acquire");
        };
        other.lock = lock;
        assert_eq!(
            other.step(),
            Step::WaitForLock(Busy::Full {
                holders: vec!["n2".into()]
            })
        );
    }

    #[test]
    fn the_reboot_loop_guard_stops_a_node_that_keeps_needing_reboots() {
        let s = Scenario {
            recent_reboots: vec![
                now() - SignedDuration::from_hours(20),
                now() - SignedDuration::from_hours(10),
                now() - SignedDuration::from_hours(1),
            ],
            ..Scenario::needs_reboot()
        };
        assert_eq!(
            s.step(),
            Step::Blocked(BlockReason::RebootLoop { reboots: 3 })
        );
        let s = Scenario {
            recent_reboots: vec![
                now() - SignedDuration::from_hours(30),
                now() - SignedDuration::from_hours(10),
                now() - SignedDuration::from_hours(1),
            ],
            ..Scenario::needs_reboot()
        };
        assert!(matches!(s.step(), Step::Acquire(_)));
    }

    #[test]
    fn the_lease_is_renewed_while_held() {
        let mut s = Scenario {
            policy: LockPolicy {
                ttl: SignedDuration::from_mins(30),
                ..policy()
            },
            ..Scenario::needs_reboot()
        };
        s.apply(&s.step()); // Acquire
        s.now = now() + SignedDuration::from_mins(11);
        let Step::Renew(lock) = s.step() else {
            panic!("expected a renewal");
        };
        assert_eq!(lock.entry(ME).unwrap().created, s.now);
        // Even after the TTL passed, an entry nobody replaced is reclaimed, not abandoned.
        s.now = now() + SignedDuration::from_hours(2);
        assert!(matches!(s.step(), Step::Renew(_)));
    }

    #[test]
    fn a_lost_lease_restores_drydocks_cordon() {
        let s = Scenario {
            cordon: CordonState::CordonedByDrydock,
            ..Scenario::needs_reboot()
        };
        assert_eq!(s.step(), Step::RestoreCordon);
    }

    #[test]
    fn a_reboot_that_never_happens_is_retried_then_given_up() {
        let mut s = Scenario::needs_reboot();
        s.run();
        for attempt in 2..=MAX_REBOOT_ATTEMPTS {
            s.now += REBOOT_GRACE;
            let step = s.step();
            let Step::Reboot(lock) = &step else {
                panic!("attempt {attempt}: expected a reboot, got {step:?}");
            };
            assert_eq!(
                lock.entry(ME)
                    .unwrap()
                    .drydock
                    .as_ref()
                    .unwrap()
                    .reboot_attempts,
                attempt
            );
            s.apply(&step);
        }
        s.now += REBOOT_GRACE;
        assert!(matches!(
            s.step(),
            Step::Release {
                reason: ReleaseReason::RebootDidNotHappen { attempts: 3 },
                ..
            }
        ));
    }

    #[test]
    fn a_sentinel_that_disappears_before_the_reboot_releases_without_rebooting() {
        let mut s = Scenario::needs_reboot();
        s.apply(&s.step());
        s.apply(&s.step());
        s.reboot_required = false;
        assert!(matches!(
            s.step(),
            Step::Release {
                reason: ReleaseReason::NoLongerRequired,
                uncordon: true,
                ..
            }
        ));
    }

    #[test]
    fn a_lock_kured_took_is_adopted_and_finished_after_a_rollout() {
        // kured cordoned a schedulable node and the DaemonSet was replaced by Drydock's.
        let kured = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-22T02:50:00Z","TTL":0}"#;
        let mut s = Scenario {
            lock: Lock::decode(Some(kured), LockFormat::Single).unwrap(),
            cordon: CordonState::Cordoned,
            ..Scenario::needs_reboot()
        };
        // Still required: adopt (record the boot ID) and carry on with the drain.
        assert_eq!(kinds(&s.run()), ["Adopt", "Drain", "Reboot", "AwaitBoot"]);
        // Already rebooted by kured (sentinel gone): uncordon kured's cordon and release.
        let mut s = Scenario {
            lock: Lock::decode(Some(kured), LockFormat::Single).unwrap(),
            cordon: CordonState::Cordoned,
            reboot_required: false,
            ..Scenario::needs_reboot()
        };
        let steps = s.run();
        assert!(matches!(
            steps[0],
            Step::VerifyAndUncordon { uncordon: true, .. }
        ));
    }

    fn arb_cordon() -> impl Strategy<Value = CordonState> {
        prop_oneof![
            Just(CordonState::Schedulable),
            Just(CordonState::Cordoned),
            Just(CordonState::CordonedByDrydock),
        ]
    }

    fn arb_drain() -> impl Strategy<Value = DrainStatus> {
        prop_oneof![
            Just(DrainStatus::NotStarted),
            Just(DrainStatus::Succeeded),
            Just(DrainStatus::Failed("x".into())),
        ]
    }

    /// A lock with or without an entry for this node, written by kured or by Drydock.
    fn arb_lock() -> impl Strategy<Value = Lock> {
        (
            prop_oneof![Just(ME), Just("n2"), Just("gone"), Just("manual")],
            any::<bool>(),
            0_i64..7_200,
            prop_oneof![Just(0_i64), Just(600), Just(3_600)],
            proptest::option::of((
                prop_oneof![Just(BOOT), Just("boot-b")],
                proptest::option::of(0_i64..3_600),
                0_u32..4,
            )),
        )
            .prop_map(|(holder, unschedulable, age, ttl, drydock)| {
                let created = now() - SignedDuration::from_secs(age);
                let drydock = drydock.map_or(String::new(), |(boot, issued, attempts)| {
                    let issued = issued.map_or(String::new(), |ago| {
                        format!(
                            r#","rebootIssued":"{}""#,
                            now() - SignedDuration::from_secs(ago)
                        )
                    });
                    format!(
                        r#","drydock":{{"bootID":"{boot}"{issued},"rebootAttempts":{attempts}}}"#
                    )
                });
                let json = format!(
                    r#"{{"nodeID":"{holder}","metadata":{{"unschedulable":{unschedulable}}},"created":"{created}","TTL":{}{drydock}}}"#,
                    ttl * 1_000_000_000
                );
                Lock::decode(Some(&json), LockFormat::Single).unwrap()
            })
    }

    prop_compose! {
        fn arb_scenario()(
            lock in arb_lock(),
            cordon in arb_cordon(),
            reboot_required in any::<bool>(),
            window_open in any::<bool>(),
            blocked in any::<bool>(),
            reboots in 0_usize..5,
            drain in arb_drain(),
            force_reboot in any::<bool>(),
            ttl in prop_oneof![Just(0_i64), Just(1_800)],
        ) -> Scenario {
            Scenario {
                lock,
                nodes: nodes(),
                policy: LockPolicy { ttl: SignedDuration::from_secs(ttl), ..policy() },
                boot_id: BOOT.into(),
                cordon,
                reboot_required,
                window_open,
                blockers: if blocked { vec!["blocked".into()] } else { Vec::new() },
                recent_reboots: (0..reboots).map(|i| now() - SignedDuration::from_hours(i as i64 * 3)).collect(),
                drain,
                force_reboot,
                gate: None,
                evicted: Vec::new(),
                health: Vec::new(),
                now: now(),
            }
        }
    }

    fn web() -> Workload {
        Workload {
            namespace: "shop".into(),
            controller: "ReplicaSet/web".into(),
        }
    }

    fn web_health(ready: u32) -> Vec<(Workload, WorkloadHealth)> {
        vec![(
            web(),
            WorkloadHealth::Observed {
                desired: 3,
                ready,
                budgets: vec![i32::from(ready == 3)],
            },
        )]
    }

    /// A node with the gate on that drained `web`, rebooted and came back.
    fn gated_and_back() -> Scenario {
        let mut s = Scenario {
            gate: Some(health::DEFAULT_TIMEOUT),
            evicted: vec![web()],
            ..Scenario::needs_reboot()
        };
        s.run();
        s.boot_id = "boot-b".into();
        s.reboot_required = false;
        s.evicted.clear(); // a new pod after the reboot: the drain's memory is gone
        s
    }

    #[test]
    fn the_reboot_records_the_evicted_workloads_in_the_lock_entry() {
        let s = gated_and_back();
        let fields = s.lock.entry(ME).unwrap().drydock.clone().unwrap();
        assert_eq!(fields.evicted, ["shop/ReplicaSet/web"]);
        assert_eq!(fields.back_since, None);
    }

    #[test]
    fn with_the_gate_a_node_back_uncordons_but_keeps_the_lock_until_its_workloads_are_whole() {
        let mut s = gated_and_back();
        s.health = web_health(1);
        let steps = s.run();
        assert_eq!(kinds(&steps), ["Recovered", "AwaitHealth"]);
        assert!(matches!(steps[0], Step::Recovered { uncordon: true, .. }));
        assert_eq!(s.cordon, CordonState::Schedulable);
        let entry = s.lock.entry(ME).unwrap();
        assert_eq!(entry.drydock.as_ref().unwrap().back_since, Some(now()));
        assert!(matches!(
            &steps[1],
            Step::AwaitHealth { waiting, next } if waiting[0].1 == "1/3 ready" && *next == now() + health::POLL
        ));

        s.health = web_health(3);
        s.now = now() + SignedDuration::from_secs(40);
        let steps = s.run();
        assert_eq!(kinds(&steps), ["HandOver", "Idle"]);
        assert!(matches!(
            &steps[0],
            Step::HandOver { timed_out, uncordon: false, .. } if timed_out.is_empty()
        ));
        assert_eq!(s.lock.encode().unwrap(), None);
    }

    #[test]
    fn a_workload_that_never_comes_back_holds_the_lock_until_the_timeout_only() {
        let mut s = gated_and_back();
        s.health = web_health(0);
        s.run();
        s.now = now() + health::DEFAULT_TIMEOUT - SignedDuration::from_secs(1);
        assert!(matches!(s.step(), Step::AwaitHealth { .. }));
        s.now = now() + health::DEFAULT_TIMEOUT;
        assert!(matches!(
            s.step(),
            Step::HandOver { timed_out, .. } if timed_out == [(web(), "0/3 ready".to_owned())]
        ));
    }

    #[test]
    fn a_restarted_pod_resumes_the_gate_from_the_lock_entry() {
        let mut s = gated_and_back();
        s.health = web_health(2);
        s.run();
        // Nothing of the first pod survives but the lock and the Node.
        s.drain = DrainStatus::NotStarted;
        s.now = now() + SignedDuration::from_mins(3);
        assert!(matches!(s.step(), Step::AwaitHealth { .. }));
    }

    #[test]
    fn the_gate_renews_the_lease_while_it_waits() {
        let mut s = gated_and_back();
        s.policy.ttl = SignedDuration::from_mins(30);
        s.gate = Some(SignedDuration::from_hours(1));
        s.health = web_health(0);
        s.run();
        s.now = now() + SignedDuration::from_mins(9);
        assert!(matches!(s.step(), Step::AwaitHealth { .. }));
        s.now = now() + SignedDuration::from_mins(11);
        let step = s.step();
        assert!(matches!(step, Step::Renew(_)), "{step:?}");
        s.apply(&step);
        assert!(matches!(s.step(), Step::AwaitHealth { .. }));
    }

    #[test]
    fn without_the_gate_or_without_evictions_the_hand_over_is_kureds() {
        // kured's flags: no gate, the hold ends with the uncordon as before.
        let mut s = Scenario::needs_reboot();
        s.run();
        s.boot_id = "boot-b".into();
        s.reboot_required = false;
        assert_eq!(kinds(&s.run()), ["VerifyAndUncordon", "Idle"]);
        // The gate on, but the drain evicted nothing: nothing to wait for.
        let mut s = Scenario {
            gate: Some(health::DEFAULT_TIMEOUT),
            ..Scenario::needs_reboot()
        };
        s.run();
        s.boot_id = "boot-b".into();
        s.reboot_required = false;
        assert_eq!(kinds(&s.run()), ["VerifyAndUncordon", "Idle"]);
    }

    #[test]
    fn an_entry_in_the_gate_is_handed_over_when_the_gate_is_switched_off() {
        let mut s = gated_and_back();
        s.health = web_health(0);
        s.run();
        s.gate = None;
        assert_eq!(kinds(&s.run()), ["HandOver", "Idle"]);
    }

    proptest! {
        #[test]
        fn a_node_without_the_lock_never_cordons_drains_or_reboots(s in arb_scenario()) {
            let step = s.step();
            if s.lock.entry(ME).is_none() {
                let acts = matches!(step, Step::Cordon | Step::Drain | Step::Reboot(_) | Step::AwaitBoot { .. });
                prop_assert!(!acts, "{:?}", step);
            }
        }

        #[test]
        fn an_operators_cordon_is_never_undone(s in arb_scenario()) {
            prop_assume!(s.cordon == CordonState::Cordoned);
            let kured_cordoned_it = s
                .lock
                .entry(ME)
                .is_some_and(|e| e.drydock.is_none() && !e.metadata.unschedulable);
            prop_assume!(!kured_cordoned_it);
            let uncordons = match s.step() {
                Step::RestoreCordon => true,
                Step::VerifyAndUncordon { uncordon, .. } | Step::Release { uncordon, .. } => uncordon,
                _ => false,
            };
            prop_assert!(!uncordons);
        }

        #[test]
        fn a_reboot_is_only_issued_inside_the_window_while_required_and_holding(s in arb_scenario()) {
            if let Step::Reboot(lock) = s.step() {
                prop_assert!(s.window_open && s.reboot_required);
                prop_assert!(s.lock.entry(ME).is_some());
                prop_assert_eq!(lock.entry(ME).and_then(|e| e.drydock.as_ref()?.reboot_issued), Some(s.now));
            }
        }

        #[test]
        fn a_changed_boot_id_always_ends_the_hold(s in arb_scenario()) {
            let changed = s.lock.entry(ME).and_then(LockEntry::boot_id).is_some_and(|b| b != BOOT);
            if changed {
                let ends = matches!(s.step(), Step::VerifyAndUncordon { .. });
                prop_assert!(ends);
            }
        }

        #[test]
        fn the_loop_guard_keeps_a_looping_node_from_taking_the_lock(s in arb_scenario()) {
            if s.lock.entry(ME).is_none() && reboots_in_window(&s.recent_reboots, s.now) >= 3 {
                let acquires = matches!(s.step(), Step::Acquire(_));
                prop_assert!(!acquires);
            }
        }
    }
}
