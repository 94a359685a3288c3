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
//!   delivery and one conditional write.
//! - **Idle is free.** A node whose sentinel says no reboot is needed, and whose last look at
//!   the cluster found nothing of its own to finish, makes no API call at all.
//! - **Drain like `kubectl drain`, bounded.** Pods owned by a DaemonSet and mirror pods are
//!   skipped; each pod is evicted through the Eviction API; a PodDisruptionBudget refusal
//!   (429) is retried after [`PDB_RETRY`] (kured ≥ 1.22 retries in a tight loop); evicted
//!   pods are waited for; `--drain-timeout` ends the drain. The lease is renewed between
//!   rounds, because the drain is not one blocking call.
//! - **Uncordon first, then release** (after `--lock-release-delay`), so the spacing between
//!   reboots never keeps the node cordoned, and a crash in between leaves a held lock to
//!   finish rather than an orphaned cordon.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use tracing::{debug, info, warn};

use crate::Result;
use crate::cluster::{
    Clock, Cluster, ClusterError, Event, EventKind, Eviction, Host, Node, NodePatch, Owner, Pod,
    PodPhase, Seen,
};
use crate::config::{Config, DrainConfig, MessageTemplates};
use crate::lock::{Lock, LockEntry};
use crate::machine::{
    BlockReason, DrainStatus, NodeFacts, Observation, REBOOT_GRACE, RENEW_DIVISOR, ReleaseReason,
    Step, decide,
};

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

// === impl Drainer ===

impl Drainer {
    /// A drain starting at `now`.
    pub fn new(now: Timestamp) -> Drainer {
        Drainer {
            started: now,
            retry_at: BTreeMap::new(),
            logged: BTreeSet::new(),
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
        let mut next = now.checked_add(DELETE_POLL).unwrap_or(now);
        for pod in &pods {
            let key = format!("{}/{}", pod.namespace, pod.name);
            if pod.terminating {
                if self.logged.insert(format!("{key}@{}", pod.uid)) {
                    info!(node, pod = %key, "waiting for pod to be deleted");
                }
                continue;
            }
            if let Some(at) = self.retry_at.get(&key).filter(|at| **at > now) {
                next = next.min(*at);
                continue;
            }
            match cluster
                .evict(&pod.namespace, &pod.name, config.grace_period_seconds)
                .await?
            {
                Eviction::Evicted => {
                    self.retry_at.remove(&key);
                    info!(node, pod = %key, "evicting pod");
                }
                Eviction::Gone => {
                    self.retry_at.remove(&key);
                }
                Eviction::Blocked(why) => {
                    let at = now.checked_add(PDB_RETRY).unwrap_or(now);
                    self.retry_at.insert(key.clone(), at);
                    next = next.min(at);
                    info!(node, pod = %key, reason = %why, "eviction refused, will retry after 5s");
                }
            }
        }
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
            Wake::At(t) => self.clock.sleep_until(t).await,
            Wake::ChangeOr { seen, deadline } => {
                tokio::select! {
                    biased;
                    () = self.cluster.wait_for_change(&seen) => {}
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

    /// One turn: observe, decide, act. Returns when to look again.
    ///
    /// # Errors
    ///
    /// A failed API call (the caller backs off and tries again).
    pub async fn tick(&mut self) -> Result<Wake> {
        let now = self.clock.now();
        let next_period = self.at(now, self.config.period);
        let required = self.host.reboot_required().await;
        if self.clean && !required {
            debug!(node = %self.me(), "Reboot not required");
            return Ok(Wake::At(next_period));
        }

        let me = self.config.node_id.clone();
        let Some(node) = self.cluster.get_node(&me).await? else {
            warn!(node = %me, "own Node not found");
            return Ok(Wake::At(next_period));
        };
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
                return Ok(Wake::At(next_period));
            }
        };
        if lock.entry(&me).is_none() {
            self.forget_hold();
        }
        let involved = required || lock.entry(&me).is_some();
        let nodes = if involved {
            self.cluster.list_nodes().await?
        } else {
            Default::default()
        };
        let directory = nodes.directory();
        let window_open = self.config.window.contains(now);
        let blockers = if required && window_open && lock.entry(&me).is_none() {
            self.blockers().await?
        } else {
            Vec::new()
        };
        let history = reboot_history(&node);
        let step = decide(&Observation {
            node: NodeFacts {
                name: &me,
                role: node.role(),
                boot_id: &node.boot_id,
                cordon: node.cordon_state(),
            },
            lock: &lock,
            nodes: &directory,
            policy: &self.config.lock.policy,
            reboot_required: required,
            window_open,
            blockers: &blockers,
            recent_reboots: &history,
            max_reboots_per_day: self.config.max_reboots_per_day,
            drain: &self.drain,
            force_reboot: self.config.drain.force_reboot,
            now,
        })?;
        debug!(node = %me, ?step, "decided");
        self.clean = step == Step::Idle;
        if required && matches!(step, Step::WaitForLock(_) | Step::Acquire(_)) {
            info!(node = %me, "Reboot required");
            self.annotate_reboot_needed(&node, now).await?;
        }

        let entry = lock.entry(&me).cloned();
        let renew_at = entry.as_ref().and_then(|e| self.renew_at(e));
        let soon = |t: Timestamp| renew_at.map_or(t, |r| t.min(r));
        match step {
            Step::Idle => {
                info!(node = %me, "Reboot not required");
                self.set_taint(&node, false).await?;
                Ok(Wake::At(next_period))
            }
            Step::WaitForWindow => {
                self.set_taint(&node, false).await?;
                let opening = self.config.window.next_opening(now);
                Ok(Wake::At(
                    opening.map_or(next_period, |o| o.min(next_period)),
                ))
            }
            Step::Blocked(reason) => {
                let message = match reason {
                    BlockReason::Blockers(why) => why.join("; "),
                    BlockReason::RebootLoop { reboots } => format!(
                        "Reboot blocked: the node rebooted {reboots} times in 24h and still \
                         needs a reboot; check the sentinel"
                    ),
                };
                info!(node = %me, "{message}");
                self.event(EventKind::Warning, "RebootBlocked", message)
                    .await;
                Ok(Wake::At(next_period))
            }
            Step::WaitForLock(busy) => {
                info!(node = %me, "{busy}");
                self.set_taint(&node, true).await?;
                let expiry = lock
                    .holders()
                    .iter()
                    .filter(|e| e.ttl.is_positive())
                    .filter_map(|e| e.created.checked_add(e.ttl).ok())
                    .filter(|t| *t > now)
                    .min();
                Ok(Wake::ChangeOr {
                    seen: Seen {
                        lock: read.version,
                        node_set: nodes.set_version,
                    },
                    deadline: expiry.map_or(next_period, |e| e.min(next_period)),
                })
            }
            Step::Acquire(new) => {
                if self.write(&new, &read.version).await? {
                    info!(node = %me, "acquired the reboot lock");
                    self.event(
                        EventKind::Normal,
                        "RebootLockAcquired",
                        "took the lock".into(),
                    )
                    .await;
                }
                Ok(Wake::Now)
            }
            Step::Renew(new) | Step::Adopt(new) => {
                self.write(&new, &read.version).await?;
                Ok(Wake::Now)
            }
            Step::Cordon => {
                self.prepare(&node).await?;
                self.cluster.cordon(&me).await?;
                info!(node = %me, "cordoned");
                Ok(Wake::Now)
            }
            Step::Drain => {
                if !self.prepared {
                    self.prepare(&node).await?;
                }
                let drainer = self.drainer.get_or_insert_with(|| Drainer::new(now));
                match drainer
                    .round(&self.cluster, &me, &self.config.drain, now)
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
                    DrainProgress::Pending(next) => Ok(Wake::At(soon(next))),
                }
            }
            Step::Reboot(new) => {
                if !self.write(&new, &read.version).await? {
                    return Ok(Wake::Now);
                }
                self.reboot().await;
                Ok(Wake::Now)
            }
            Step::AwaitBoot { issued } => Ok(Wake::At(soon(self.at(issued, REBOOT_GRACE)))),
            Step::VerifyAndUncordon { uncordon, .. } => {
                self.finish_reboot(&node, uncordon, now).await?;
                self.release().await?;
                self.forget_hold();
                Ok(Wake::Now)
            }
            Step::Release {
                reason, uncordon, ..
            } => {
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
                            .window
                            .next_opening(now)
                            .map_or(next_period, |o| o.min(next_period)),
                    ),
                    ReleaseReason::DrainFailed(_) | ReleaseReason::RebootDidNotHappen { .. } => {
                        Wake::At(next_period)
                    }
                })
            }
            Step::RestoreCordon => {
                self.cluster.uncordon(&me).await?;
                info!(node = %me, "uncordoned: Drydock's cordon without the lock");
                Ok(Wake::Now)
            }
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
    async fn write(&self, lock: &Lock, version: &crate::cluster::ResourceVersion) -> Result<bool> {
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
            let nodes = self.cluster.list_nodes().await?;
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
    async fn finish_reboot(&self, node: &Node, uncordon: bool, now: Timestamp) -> Result<()> {
        let me = self.me();
        if uncordon {
            self.cluster.uncordon(me).await?;
        }
        let mut patch = NodePatch::default();
        let recorded = node.annotations.get(VERIFIED_BOOT_ANNOTATION);
        if recorded != Some(&node.boot_id) {
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
