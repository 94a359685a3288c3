//! The administrator's commands (`drydock reboot status | pause | resume | now | cancel`)
//! against the API.
//!
//! The DaemonSet is the source of truth: the lock lives in its annotation, and the daemons'
//! flags (concurrency, window, lock annotation, …) are read from its pod template (literal
//! args and `KURED_*` env values) with the daemons' own parser ([`daemon_config`]), so `pause`
//! writes the lock in the format the daemons use and `status` shows their window.
//!
//! Calls: one GET of the DaemonSet, then for `pause`/`resume` one replace (PUT) carrying the
//! resourceVersion that GET returned (optimistic concurrency, as the daemons write). A 409
//! means a daemon wrote in between: the lock is read again, the decision made again on what
//! is there now, and the write retried, at most [`MAX_ATTEMPTS`] times. `pause` refuses to
//! write a lock in the other format, and refuses while a node holds the lock (a pause must
//! not take a slot from under a rebooting node). `status` also lists the Nodes and the
//! `RebootBlocked` Events.
//!
//! `now NODE [--force]` and `cancel NODE` ([`crate::request`]): after the DaemonSet's GET, one
//! GET of the Node (its boot ID, and the request already there) and at most one merge patch
//! of its request annotation. `now` refuses when the daemons do not run with
//! `--reboot-on-request` (they would ignore the request).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams};

use crate::cluster::{
    Cluster, ClusterError, LockRead, Node as NodeFacts, NodePatch, ResourceVersion, TokioClock,
};
use crate::config::{self, Config};
use crate::daemon::KURED_REBOOT_IN_PROGRESS_ANNOTATION;
use crate::forecast::{
    REBOOT_DURATION_ANNOTATION, median, parse_duration_annotation, predict_finish,
};
use crate::k8s::KubeCluster;
use crate::lock::{Lock, LockFormat, MANUAL_HOLDER};
use crate::machine::CORDON_MARKER_ANNOTATION;
use crate::request::{REBOOT_REQUEST_ANNOTATION, RebootRequest, RequestState};
use crate::{Error, Result};

/// How many times `pause` and `resume` read and write when daemons keep writing the lock in
/// between (each 409 is one lost race; five in a row means the lock is busy, and the operator
/// is better told than kept waiting).
pub const MAX_ATTEMPTS: u32 = 5;

/// The node name the admin's parse of the daemons' flags runs under (the pods take theirs from
/// the downward API; any name parses).
const ADMIN_NODE_ID: &str = "drydock-admin";

/// The Event reason the daemons give a blocked reboot.
pub const REBOOT_BLOCKED_REASON: &str = "RebootBlocked";

/// Where the lock is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockTarget {
    /// The DaemonSet's namespace.
    pub ds_namespace: String,
    /// The DaemonSet's name.
    pub ds_name: String,
    /// The lock annotation, unless the DaemonSet's flags say otherwise.
    pub lock_annotation: String,
}

/// The daemons' configuration, parsed from the DaemonSet's first container as they parse it.
///
/// # Errors
///
/// The flags found there do not parse (the error names the flag).
pub fn daemon_config(ds: &DaemonSet, target: &LockTarget) -> config::Result<Config> {
    let container = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first());
    let mut argv = vec!["kured".to_owned()];
    let mut env = BTreeMap::new();
    if let Some(c) = container {
        let words = c
            .command
            .iter()
            .flatten()
            .skip(1)
            .chain(c.args.iter().flatten());
        argv.extend(words.filter(|w| w.starts_with("--")).cloned());
        for var in c.env.iter().flatten() {
            if let Some(value) = &var.value {
                env.insert(var.name.clone(), value.clone());
            }
        }
    }
    argv.push(format!("--ds-namespace={}", target.ds_namespace));
    argv.push(format!("--ds-name={}", target.ds_name));
    if !argv.iter().any(|a| a.starts_with("--lock-annotation")) {
        argv.push(format!("--lock-annotation={}", target.lock_annotation));
    }
    env.insert(config::env_var_name("node-id"), ADMIN_NODE_ID.into());
    env.remove(&config::env_var_name("ds-namespace"));
    env.remove(&config::env_var_name("ds-name"));
    config::parse(argv, &env)
}

/// The lock as any daemon may have written it, whatever the format.
///
/// # Errors
///
/// It is not a kured lock in either format.
pub fn decode_any(value: Option<&str>) -> Result<Lock> {
    Lock::decode(value, LockFormat::Single).or_else(|_| Lock::decode(value, LockFormat::Multi))
}

/// What `pause` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseOutcome {
    /// The manual lock is set.
    Paused,
    /// It already was; nothing written.
    AlreadyPaused,
}

/// What `resume` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// The manual lock is cleared.
    Resumed,
    /// There was none; nothing written.
    NotPaused,
}

/// What `pause` makes of the lock it read: the lock to write, or nothing to do.
///
/// # Errors
///
/// The lock has the other format ([`Error::LockFormatMismatch`]) or a node holds it
/// ([`Error::PauseWhileHeld`]).
pub fn plan_pause(read: Option<&str>, config: &Config, now: Timestamp) -> Result<Option<Lock>> {
    let policy = &config.lock.policy;
    let lock = Lock::decode_for(read, policy)?;
    if !lock.holders().is_empty() && lock.holders().iter().all(|h| h.is_manual()) {
        return Ok(None);
    }
    let live: Vec<String> = lock
        .holders()
        .iter()
        .filter(|h| !h.is_expired(now))
        .map(|h| h.node_id.clone())
        .collect();
    if !live.is_empty() {
        return Err(Error::PauseWhileHeld { holders: live });
    }
    Ok(Some(Lock::paused(policy, now)))
}

/// What `resume` makes of the lock it read: the lock without the manual holder, or nothing to
/// do.
///
/// # Errors
///
/// The lock has the other format ([`Error::LockFormatMismatch`]).
pub fn plan_resume(read: Option<&str>, config: &Config) -> Result<Option<Lock>> {
    let mut lock = Lock::decode_for(read, &config.lock.policy)?;
    if lock.entry(MANUAL_HOLDER).is_none() {
        return Ok(None);
    }
    while lock.entry(MANUAL_HOLDER).is_some() {
        lock = lock.release(MANUAL_HOLDER)?;
    }
    Ok(Some(lock))
}

/// What `reboot now` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The request is written.
    Requested(RebootRequest),
    /// The same request already stands; nothing written.
    AlreadyRequested(RebootRequest),
}

/// What `reboot cancel` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The request annotation is removed.
    Cancelled,
    /// There was none; nothing written.
    NotRequested,
}

/// What `reboot now` makes of the Node it read: the request to write, or `Err` with the one
/// that already stands (same `force`).
pub fn plan_request(
    node: &NodeFacts,
    force: bool,
    now: Timestamp,
) -> std::result::Result<RebootRequest, RebootRequest> {
    let annotation = node.annotations.get(REBOOT_REQUEST_ANNOTATION);
    if let RequestState::Active(standing) =
        RequestState::of(annotation.map(String::as_str), &node.boot_id)
        && standing.force == force
    {
        return Err(standing);
    }
    Ok(RebootRequest {
        boot_id: node.boot_id.clone(),
        requested: now,
        force,
    })
}

/// A connection to one reboot DaemonSet, for the admin commands.
pub struct Admin {
    client: kube::Client,
    cluster: KubeCluster,
    config: Config,
    /// The lock as the first GET found it, used by the first decision (no second GET).
    first_read: Option<LockRead>,
}

impl Admin {
    /// Reads the DaemonSet (one GET) and the daemons' flags from it.
    ///
    /// # Errors
    ///
    /// The DaemonSet cannot be read, or its flags do not parse.
    pub async fn connect(client: kube::Client, target: &LockTarget) -> Result<Admin> {
        let resource = ApiResource::erase::<DaemonSet>(&());
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &target.ds_namespace, &resource);
        let object = api.get(&target.ds_name).await.map_err(|e| {
            Error::Admin(format!(
                "cannot read DaemonSet {}/{}: {}",
                target.ds_namespace,
                target.ds_name,
                drydock_kube::status::message(&e)
            ))
        })?;
        let typed: DaemonSet = serde_json::to_value(&object)
            .and_then(serde_json::from_value)
            .map_err(|e| {
                Error::Admin(format!(
                    "DaemonSet {}/{} is not a DaemonSet: {e}",
                    target.ds_namespace, target.ds_name
                ))
            })?;
        let config = daemon_config(&typed, target).map_err(|e| Error::DaemonSetFlags {
            daemonset: format!("{}/{}", target.ds_namespace, target.ds_name),
            source: Box::new(e),
        })?;
        let first_read = LockRead {
            value: object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(&config.lock.annotation))
                .cloned(),
            version: ResourceVersion(object.metadata.resource_version.clone().unwrap_or_default()),
        };
        let cluster = KubeCluster::new(client.clone(), &config.lock, TokioClock::system());
        cluster.seed(object);
        Ok(Admin {
            client,
            cluster,
            config,
            first_read: Some(first_read),
        })
    }

    /// The daemons' configuration as read from the DaemonSet.
    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn read(&mut self) -> Result<LockRead> {
        match self.first_read.take() {
            Some(read) => Ok(read),
            None => Ok(self.cluster.read_lock().await?),
        }
    }

    /// Reads, decides with `plan`, writes; again on a 409. `Ok(None)`: nothing to write.
    async fn update(
        &mut self,
        what: &str,
        plan: impl Fn(Option<&str>) -> Result<Option<Lock>>,
    ) -> Result<bool> {
        for _ in 0..MAX_ATTEMPTS {
            let read = self.read().await?;
            let Some(lock) = plan(read.value.as_deref())? else {
                return Ok(false);
            };
            match self.cluster.write_lock(lock.encode()?, &read.version).await {
                Ok(_) => return Ok(true),
                Err(ClusterError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Admin(format!(
            "the lock changed {MAX_ATTEMPTS} times while {what}; run the command again"
        )))
    }

    /// Sets the manual lock in the daemons' format.
    ///
    /// # Errors
    ///
    /// A node holds the lock, the lock has the other format, the API failed, or the lock kept
    /// changing.
    pub async fn pause(&mut self, now: Timestamp) -> Result<PauseOutcome> {
        let config = self.config.clone();
        let wrote = self
            .update("pausing", |read| plan_pause(read, &config, now))
            .await?;
        Ok(if wrote {
            PauseOutcome::Paused
        } else {
            PauseOutcome::AlreadyPaused
        })
    }

    /// Clears the manual lock.
    ///
    /// # Errors
    ///
    /// The lock has the other format, the API failed, or the lock kept changing.
    pub async fn resume(&mut self) -> Result<ResumeOutcome> {
        let config = self.config.clone();
        let wrote = self
            .update("resuming", |read| plan_resume(read, &config))
            .await?;
        Ok(if wrote {
            ResumeOutcome::Resumed
        } else {
            ResumeOutcome::NotPaused
        })
    }

    async fn node(&self, name: &str) -> Result<NodeFacts> {
        self.cluster
            .get_node(name)
            .await?
            .ok_or_else(|| Error::Admin(format!("Node {name} not found")))
    }

    /// Asks for `node`'s reboot: it waits for the lock and the window like any other, or
    /// only for the lock and the blockers with `force`.
    ///
    /// # Errors
    ///
    /// The daemons do not run with `--reboot-on-request`, the Node does not exist, or the API
    /// failed.
    pub async fn request_reboot(
        &mut self,
        node: &str,
        force: bool,
        now: Timestamp,
    ) -> Result<RequestOutcome> {
        if !self.config.reboot_on_request {
            return Err(Error::Admin(format!(
                "the daemons of DaemonSet {}/{} do not run with --reboot-on-request, so they \
                 would ignore the request; add the flag (Drydock's chart and manifests set it)",
                self.config.lock.ds_namespace, self.config.lock.ds_name
            )));
        }
        let facts = self.node(node).await?;
        if facts.boot_id.is_empty() {
            return Err(Error::Admin(format!(
                "Node {node} reports no boot ID (status.nodeInfo.bootID): is its kubelet up?"
            )));
        }
        match plan_request(&facts, force, now) {
            Err(standing) => Ok(RequestOutcome::AlreadyRequested(standing)),
            Ok(request) => {
                let patch = NodePatch {
                    annotations: BTreeMap::from([(
                        REBOOT_REQUEST_ANNOTATION.to_owned(),
                        Some(request.encode()?),
                    )]),
                    ..NodePatch::default()
                };
                self.cluster.patch_node(node, &patch).await?;
                Ok(RequestOutcome::Requested(request))
            }
        }
    }

    /// Withdraws `node`'s request. A node that already holds the lock for it releases the lock
    /// (and its cordon) at its next look, unless the reboot was already issued.
    ///
    /// # Errors
    ///
    /// The Node does not exist, or the API failed.
    pub async fn cancel_reboot(&mut self, node: &str) -> Result<CancelOutcome> {
        let facts = self.node(node).await?;
        if !facts.annotations.contains_key(REBOOT_REQUEST_ANNOTATION) {
            return Ok(CancelOutcome::NotRequested);
        }
        let patch = NodePatch {
            annotations: BTreeMap::from([(REBOOT_REQUEST_ANNOTATION.to_owned(), None)]),
            ..NodePatch::default()
        };
        self.cluster.patch_node(node, &patch).await?;
        Ok(CancelOutcome::Cancelled)
    }

    /// Reads what `status` shows: the lock, the Nodes, the `RebootBlocked` Events.
    ///
    /// # Errors
    ///
    /// The lock is not a kured lock, or the API failed.
    pub async fn status(&mut self) -> Result<Status> {
        let read = self.read().await?;
        let lock = decode_any(read.value.as_deref())?;
        let api_error = |what: &str, e: kube::Error| {
            Error::Admin(format!(
                "cannot list {what}: {}",
                drydock_kube::status::message(&e)
            ))
        };
        let nodes = Api::<Node>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("Nodes", e))?;
        let mut needing = Vec::new();
        let mut requests = Vec::new();
        let mut durations = Vec::new();
        for node in nodes.items {
            let boot_id = node
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.boot_id.clone())
                .unwrap_or_default();
            let annotations = node.metadata.annotations.unwrap_or_default();
            if let Some(took) = annotations
                .get(REBOOT_DURATION_ANNOTATION)
                .and_then(|t| parse_duration_annotation(t))
            {
                durations.push(took);
            }
            if let Some(text) = annotations.get(REBOOT_REQUEST_ANNOTATION) {
                requests.push((
                    node.metadata.name.clone().unwrap_or_default(),
                    RequestState::of(Some(text), &boot_id),
                ));
            }
            if let Some(since) = annotations.get(KURED_REBOOT_IN_PROGRESS_ANNOTATION) {
                needing.push(NeedingReboot {
                    node: node.metadata.name.unwrap_or_default(),
                    since: since.clone(),
                    cordoned_for_reboot: annotations.contains_key(CORDON_MARKER_ANNOTATION),
                });
            }
        }
        let events = Api::<Event>::namespaced(
            self.client.clone(),
            drydock_kube::events::NODE_EVENT_NAMESPACE,
        )
        .list(&ListParams::default().fields(&format!("reason={REBOOT_BLOCKED_REASON}")))
        .await
        .map_err(|e| api_error("Events", e))?;
        let mut blocked: BTreeMap<String, (Timestamp, String)> = BTreeMap::new();
        for event in events.items {
            let node = event.involved_object.name.unwrap_or_default();
            let when = event.last_timestamp.map_or(Timestamp::UNIX_EPOCH, |t| t.0);
            let message = event.message.unwrap_or_default();
            if blocked.get(&node).is_none_or(|(t, _)| *t < when) {
                blocked.insert(node, (when, message));
            }
        }
        Ok(Status {
            config: self.config.clone(),
            lock,
            needing,
            requests,
            durations,
            blocked,
        })
    }
}

/// A node whose daemon recorded that it needs a reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeedingReboot {
    /// The Node.
    pub node: String,
    /// kured's in-progress annotation value (RFC 3339).
    pub since: String,
    /// Cordoned by the reboot coordinator.
    pub cordoned_for_reboot: bool,
}

/// What `status` read.
#[derive(Clone, Debug)]
pub struct Status {
    /// The daemons' configuration.
    pub config: Config,
    /// The lock.
    pub lock: Lock,
    /// Nodes needing a reboot (kured's in-progress annotation, `--annotate-nodes`).
    pub needing: Vec<NeedingReboot>,
    /// Nodes carrying a `drydock reboot now` request, and what it amounts to now.
    pub requests: Vec<(String, RequestState)>,
    /// Every Node's measured duration of its last reboot hold.
    pub durations: Vec<SignedDuration>,
    /// The latest `RebootBlocked` Event per node: when, and its message.
    pub blocked: BTreeMap<String, (Timestamp, String)>,
}

impl Status {
    /// The nodes still to reboot, in order: live lock holders, then nodes recorded as needing
    /// a reboot (`--annotate-nodes`), then standing requests; each once.
    pub fn queue(&self, now: Timestamp) -> Vec<String> {
        let mut queue: Vec<String> = Vec::new();
        let holders = self
            .lock
            .holders()
            .iter()
            .filter(|h| !h.is_manual() && !h.is_expired(now))
            .map(|h| h.node_id.clone());
        let needing = self.needing.iter().map(|n| n.node.clone());
        let requested = self
            .requests
            .iter()
            .filter(|(_, state)| state.is_active())
            .map(|(node, _)| node.clone());
        for node in holders.chain(needing).chain(requested) {
            if !queue.contains(&node) {
                queue.push(node);
            }
        }
        queue
    }

    /// The queue and its predicted finish.
    fn render_queue(&self, out: &mut String, now: Timestamp) {
        let queue = self.queue(now);
        let _ = writeln!(out, "Queue: {} node(s) to reboot", queue.len());
        if !queue.is_empty() {
            let _ = writeln!(out, "  {}", queue.join(", "));
        }
        let Some(per_node) = median(&self.durations) else {
            let _ = writeln!(
                out,
                "Estimated finish: unknown (no reboot measured yet: {REBOOT_DURATION_ANNOTATION})"
            );
            return;
        };
        let concurrency = self.config.lock.policy.concurrency;
        let measured = format!(
            "median {:#} per node over {} measured, concurrency {concurrency}",
            rounded(per_node),
            self.durations.len()
        );
        match predict_finish(
            queue.len(),
            concurrency,
            per_node,
            &self.config.schedule,
            now,
        ) {
            Some(t) => {
                let t = t.round(jiff::Unit::Second).unwrap_or(t);
                let _ = writeln!(
                    out,
                    "Estimated finish: {t} (in {:#}; {measured})",
                    rounded(t.duration_since(now))
                );
            }
            None => {
                let _ = writeln!(out, "Estimated finish: never (no window opens again)");
            }
        }
    }
}

fn rounded(d: SignedDuration) -> SignedDuration {
    d.round(jiff::Unit::Second).unwrap_or(d)
}

impl Status {
    /// The text `drydock reboot status` prints, at `now`.
    pub fn render(&self, now: Timestamp) -> String {
        let mut out = String::new();
        let config = &self.config;
        let open = if config.schedule.contains(now) {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(out, "Window: {} (open now: {open})", config.schedule);
        let _ = writeln!(
            out,
            "Lock: {}/{} {} ({:?} format, concurrency {})",
            config.lock.ds_namespace,
            config.lock.ds_name,
            config.lock.annotation,
            self.lock.format(),
            config.lock.policy.concurrency
        );
        let limits = &config.zones.limits;
        if limits.is_active() {
            let per_zone = limits
                .per_zone
                .map_or("any number per zone".to_owned(), |n| {
                    format!("at most {n} node(s) per zone")
                });
            let zones = limits.zones.map_or("any number of zones".to_owned(), |n| {
                format!("at most {n} zone(s) at once")
            });
            let _ = writeln!(out, "  zones ({}): {per_zone}, {zones}", config.zones.label);
        }
        if self.lock.holders().is_empty() {
            let _ = writeln!(out, "  no holder");
        }
        for holder in self.lock.holders() {
            let ttl = if holder.ttl.is_zero() {
                "none".to_owned()
            } else {
                format!("{:#}", holder.ttl)
            };
            let state = match (holder.is_manual(), holder.is_expired(now)) {
                (true, _) => " (manual pause)",
                (false, true) => " (expired)",
                (false, false) => "",
            };
            let zone = holder
                .drydock
                .as_ref()
                .and_then(|d| d.zone.as_deref())
                .map_or(String::new(), |z| format!(", zone {z:?}"));
            let _ = writeln!(
                out,
                "  held by {} for {:#}, TTL {ttl}{zone}{state}",
                holder.node_id,
                rounded(now.duration_since(holder.created))
            );
        }
        let _ = writeln!(
            out,
            "Nodes needing a reboot (kured's in-progress annotation, --annotate-nodes):"
        );
        if self.needing.is_empty() {
            let _ = writeln!(out, "  none recorded");
        }
        for n in &self.needing {
            let cordoned = if n.cordoned_for_reboot {
                ", cordoned for the reboot"
            } else {
                ""
            };
            let _ = writeln!(out, "  {} since {}{cordoned}", n.node, n.since);
        }
        let _ = writeln!(out, "Reboots requested (drydock reboot now):");
        if self.requests.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for (node, state) in &self.requests {
            let _ = match state {
                RequestState::Active(r) => writeln!(
                    out,
                    "  {node} since {}{}",
                    r.requested,
                    if r.force {
                        ", forced (ignores the window)"
                    } else {
                        ""
                    }
                ),
                RequestState::None => {
                    writeln!(out, "  {node}: done (the node rebooted since the request)")
                }
                RequestState::Invalid(why) => writeln!(out, "  {node}: ignored: {why}"),
            };
        }
        self.render_queue(&mut out, now);
        let _ = writeln!(
            out,
            "Blocked (latest {REBOOT_BLOCKED_REASON} Event per node):"
        );
        if self.blocked.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for (node, (when, message)) in &self.blocked {
            let ago = rounded(now.duration_since(*when));
            let _ = writeln!(out, "  {node}: {message} ({ago:#} ago)");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    //! tower-test scenarios: every API call of each command, in order, with the bodies that
    //! matter; a missing or an extra call fails.

    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use serde_json::{Value, json};

    use super::*;

    const DS: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets/kured";
    const LOCK_KEY: &str = "weave.works/kured-node-lock";

    fn now() -> Timestamp {
        "2026-11-22T03:00:00Z".parse().unwrap()
    }

    fn target() -> LockTarget {
        LockTarget {
            ds_namespace: "kube-system".into(),
            ds_name: "kured".into(),
            lock_annotation: LOCK_KEY.into(),
        }
    }

    /// The kured DaemonSet at `version`, its daemons run with `args`, holding `lock`.
    fn daemonset(version: &str, args: &[&str], lock: Option<&str>) -> Value {
        let mut annotations = json!({ "deprecated.daemonset.template.generation": "1" });
        if let Some(lock) = lock {
            annotations[LOCK_KEY] = json!(lock);
        }
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {
                "name": "kured", "namespace": "kube-system", "resourceVersion": version,
                "annotations": annotations,
            },
            "spec": {
                "selector": { "matchLabels": { "name": "kured" } },
                "template": {
                    "metadata": { "labels": { "name": "kured" } },
                    "spec": { "containers": [{
                        "name": "kured", "image": "drydock",
                        "command": ["/usr/bin/kured"], "args": args,
                        "env": [{ "name": "KURED_NODE_ID", "valueFrom": {
                            "fieldRef": { "fieldPath": "spec.nodeName" } } }],
                    }] },
                },
            },
        })
    }

    fn held_by(node: &str) -> String {
        format!(
            r#"{{"nodeID":"{node}","metadata":{{"unschedulable":false}},"created":"2026-11-22T02:50:00Z","TTL":0}}"#
        )
    }

    /// The manual lock `pause` writes at [`now`] for the daemons' `args`.
    fn paused(args: &[&str]) -> String {
        let mut argv = vec!["kured", "--node-id=x"];
        argv.extend(args);
        let config = config::parse(argv, &BTreeMap::new()).unwrap();
        Lock::paused(&config.lock.policy, now())
            .encode()
            .unwrap()
            .unwrap()
    }

    async fn connect(exchanges: Vec<Exchange>) -> (Admin, mock::Verifier) {
        let (client, verifier) = mock::client(exchanges);
        (Admin::connect(client, &target()).await.unwrap(), verifier)
    }

    #[tokio::test(start_paused = true)]
    async fn pause_reads_once_and_replaces_at_that_resource_version() {
        let manual = paused(&[]);
        assert!(manual.contains(r#""nodeID":"manual""#), "{manual}");
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &[], None)),
            Exchange::new(
                Method::PUT,
                format!("{DS}?"),
                daemonset("11", &[], Some(&manual)),
            )
            .with_body(json!({
                "metadata": { "resourceVersion": "10", "annotations": { LOCK_KEY: manual } },
            })),
        ])
        .await;
        assert_eq!(admin.pause(now()).await.unwrap(), PauseOutcome::Paused);
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_conflict_while_pausing_is_read_again_and_retried() {
        let manual = paused(&[]);
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &[], None)),
            Exchange::new(Method::PUT, format!("{DS}?"), json!({}))
                .with_body(json!({ "metadata": { "resourceVersion": "10" } }))
                .failing(409, "Conflict", "the object has been modified"),
            // A daemon took and released the lock meanwhile: free again, at version 12.
            Exchange::new(Method::GET, DS, daemonset("12", &[], None)),
            Exchange::new(
                Method::PUT,
                format!("{DS}?"),
                daemonset("13", &[], Some(&manual)),
            )
            .with_body(json!({
                "metadata": { "resourceVersion": "12", "annotations": { LOCK_KEY: manual } },
            })),
        ])
        .await;
        assert_eq!(admin.pause(now()).await.unwrap(), PauseOutcome::Paused);
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn pause_is_refused_while_a_node_holds_the_lock_and_nothing_is_written() {
        let (mut admin, verifier) = connect(vec![Exchange::new(
            Method::GET,
            DS,
            daemonset("10", &[], Some(&held_by("n2"))),
        )])
        .await;
        let error = admin.pause(now()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the lock is held by n2; pause once they have finished (or their TTL ran out)"
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn pause_refuses_a_lock_in_the_other_format() {
        let multi = r#"{"maxOwners":2,"locks":[]}"#;
        let (mut admin, verifier) = connect(vec![Exchange::new(
            Method::GET,
            DS,
            daemonset("10", &[], Some(multi)),
        )])
        .await;
        let error = admin.pause(now()).await.unwrap_err();
        assert!(matches!(error, Error::LockFormatMismatch { .. }), "{error}");
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn pausing_twice_writes_once() {
        let manual = paused(&[]);
        let (mut admin, verifier) = connect(vec![Exchange::new(
            Method::GET,
            DS,
            daemonset("11", &[], Some(&manual)),
        )])
        .await;
        assert_eq!(
            admin.pause(now()).await.unwrap(),
            PauseOutcome::AlreadyPaused
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn resume_clears_the_manual_holder_in_the_daemons_multi_format() {
        let args = ["--concurrency=2"];
        let manual = paused(&args);
        assert!(
            manual.starts_with(r#"{"maxOwners":2,"locks":["#),
            "{manual}"
        );
        let cleared = r#"{"maxOwners":2,"locks":[]}"#;
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("20", &args, Some(&manual))),
            Exchange::new(
                Method::PUT,
                format!("{DS}?"),
                daemonset("21", &args, Some(cleared)),
            )
            .with_body(json!({
                "metadata": { "resourceVersion": "20", "annotations": { LOCK_KEY: cleared } },
            })),
        ])
        .await;
        assert_eq!(admin.config().lock.policy.concurrency, 2);
        assert_eq!(admin.resume().await.unwrap(), ResumeOutcome::Resumed);
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn resume_without_a_pause_writes_nothing() {
        let (mut admin, verifier) = connect(vec![Exchange::new(
            Method::GET,
            DS,
            daemonset("10", &[], Some(&held_by("n2"))),
        )])
        .await;
        assert_eq!(admin.resume().await.unwrap(), ResumeOutcome::NotPaused);
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_daemonset_is_a_clear_error() {
        let (client, verifier) =
            mock::client(vec![Exchange::new(Method::GET, DS, json!({})).failing(
                404,
                "NotFound",
                r#"daemonsets.apps "kured" not found"#,
            )]);
        let error = Admin::connect(client, &target())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("cannot read DaemonSet kube-system/kured:"),
            "{error}"
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn status_reads_the_lock_the_nodes_and_the_blocked_events() {
        let args = [
            "--reboot-days=mon,tue",
            "--start-time=2am",
            "--end-time=4am",
        ];
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &args, Some(&held_by("n2")))),
            Exchange::new(
                Method::GET,
                "/api/v1/nodes?",
                json!({
                    "apiVersion": "v1", "kind": "NodeList", "metadata": {},
                    "items": [
                        { "metadata": { "name": "n1", "annotations": {
                            KURED_REBOOT_IN_PROGRESS_ANNOTATION: "2026-11-22T01:00:00Z" } } },
                        { "metadata": { "name": "n2", "annotations": {
                            KURED_REBOOT_IN_PROGRESS_ANNOTATION: "2026-11-22T02:00:00Z",
                            CORDON_MARKER_ANNOTATION: "true" } } },
                        { "metadata": { "name": "n3" } },
                        { "metadata": { "name": "n4", "annotations": {
                            REBOOT_DURATION_ANNOTATION: "600",
                            REBOOT_REQUEST_ANNOTATION: request_text("boot-4", true) } },
                          "status": { "nodeInfo": node_info("boot-4") } },
                        { "metadata": { "name": "n5", "annotations": {
                            REBOOT_DURATION_ANNOTATION: "1200",
                            REBOOT_REQUEST_ANNOTATION: request_text("boot-4", false) } },
                          "status": { "nodeInfo": node_info("boot-5") } },
                    ],
                }),
            ),
            Exchange::new(
                Method::GET,
                "/api/v1/namespaces/default/events?&fieldSelector=reason%3DRebootBlocked",
                json!({
                    "apiVersion": "v1", "kind": "EventList", "metadata": {},
                    "items": [{
                        "metadata": { "name": "n1.1", "namespace": "default" },
                        "involvedObject": { "kind": "Node", "name": "n1" },
                        "reason": "RebootBlocked", "message": "Reboot blocked: matching pods: [db-0]",
                        "lastTimestamp": "2026-11-22T02:59:00Z",
                    }],
                }),
            ),
        ])
        .await;
        let text = admin.status().await.unwrap().render(now());
        assert!(
            text.contains(
                "Window: ---MonTue------------ between 02:00 and 04:00 UTC (open now: no)"
            ),
            "{text}"
        );
        assert!(text.contains("  held by n2 for 10m, TTL none\n"), "{text}");
        assert!(text.contains("  n1 since 2026-11-22T01:00:00Z\n"), "{text}");
        assert!(
            text.contains("  n2 since 2026-11-22T02:00:00Z, cordoned for the reboot\n"),
            "{text}"
        );
        assert!(!text.contains("n3"), "{text}");
        assert!(
            text.contains(
                "Reboots requested (drydock reboot now):\n  n4 since 2026-11-22T02:30:00Z, \
                 forced (ignores the window)\n  n5: done (the node rebooted since the request)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  n1: Reboot blocked: matching pods: [db-0] (1m ago)\n"),
            "{text}"
        );
        // n2 holds the lock, n1 needs a reboot, n4 is requested (n5's request is done). The
        // window (Mon, Tue 02:00-04:00) is closed on this Sunday: Monday 02:00 + 10 min, then
        // the next two back to back within the window.
        assert!(
            text.contains(
                "Queue: 3 node(s) to reboot\n  n2, n1, n4\nEstimated finish: \
                 2026-11-23T02:30:00Z (in 23h 30m; median 10m per node over 2 measured, \
                 concurrency 1)\n"
            ),
            "{text}"
        );
        verifier.finish().await;
    }

    const NODE: &str = "/api/v1/nodes/n1";

    fn node_info(boot_id: &str) -> Value {
        json!({
            "bootID": boot_id, "architecture": "amd64", "containerRuntimeVersion": "",
            "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": "", "machineID": "",
            "operatingSystem": "linux", "osImage": "", "systemUUID": "",
        })
    }

    fn request_text(boot_id: &str, force: bool) -> String {
        RebootRequest {
            boot_id: boot_id.into(),
            requested: "2026-11-22T02:30:00Z".parse().unwrap(),
            force,
        }
        .encode()
        .unwrap()
    }

    /// Node n1 running `boot_id`, with a request annotation if given.
    fn node(boot_id: &str, request: Option<&str>) -> Value {
        let mut annotations = json!({});
        if let Some(r) = request {
            annotations[REBOOT_REQUEST_ANNOTATION] = json!(r);
        }
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": "n1", "resourceVersion": "7", "annotations": annotations },
            "status": { "nodeInfo": node_info(boot_id) },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn reboot_now_writes_a_request_for_the_current_boot() {
        let args = ["--reboot-on-request"];
        let written = RebootRequest {
            boot_id: "boot-1".into(),
            requested: now(),
            force: true,
        };
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &args, None)),
            Exchange::new(Method::GET, NODE, node("boot-1", None)),
            Exchange::new(Method::PATCH, format!("{NODE}?"), node("boot-1", None))
                .with_body(json!({ "metadata": { "annotations": {
                    REBOOT_REQUEST_ANNOTATION: written.encode().unwrap() } } })),
        ])
        .await;
        assert_eq!(
            admin.request_reboot("n1", true, now()).await.unwrap(),
            RequestOutcome::Requested(written)
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn reboot_now_twice_writes_once_but_a_stale_request_is_replaced() {
        let args = ["--reboot-on-request"];
        let standing = request_text("boot-1", false);
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &args, None)),
            Exchange::new(Method::GET, NODE, node("boot-1", Some(&standing))),
            // Satisfied by a reboot since: a new request for boot-2.
            Exchange::new(Method::GET, NODE, node("boot-2", Some(&standing))),
            Exchange::new(Method::PATCH, format!("{NODE}?"), node("boot-2", None)).with_body(
                json!({ "metadata": { "annotations": {
                    REBOOT_REQUEST_ANNOTATION: RebootRequest {
                        boot_id: "boot-2".into(), requested: now(), force: false,
                    }.encode().unwrap() } } }),
            ),
        ])
        .await;
        assert!(matches!(
            admin.request_reboot("n1", false, now()).await.unwrap(),
            RequestOutcome::AlreadyRequested(r) if r.boot_id == "boot-1"
        ));
        assert!(matches!(
            admin.request_reboot("n1", false, now()).await.unwrap(),
            RequestOutcome::Requested(r) if r.boot_id == "boot-2"
        ));
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn reboot_now_is_refused_when_the_daemons_would_ignore_it() {
        let (mut admin, verifier) = connect(vec![Exchange::new(
            Method::GET,
            DS,
            daemonset("10", &[], None),
        )])
        .await;
        let error = admin
            .request_reboot("n1", false, now())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("kube-system/kured do not run with --reboot-on-request"),
            "{error}"
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn reboot_now_on_a_missing_node_says_so() {
        let args = ["--reboot-on-request"];
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &args, None)),
            Exchange::new(Method::GET, NODE, json!({})).failing(
                404,
                "NotFound",
                r#"nodes "n1" not found"#,
            ),
        ])
        .await;
        let error = admin.request_reboot("n1", false, now()).await.unwrap_err();
        assert_eq!(error.to_string(), "Node n1 not found");
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_removes_the_request_and_is_a_no_op_without_one() {
        let standing = request_text("boot-1", true);
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &[], None)),
            Exchange::new(Method::GET, NODE, node("boot-1", Some(&standing))),
            Exchange::new(Method::PATCH, format!("{NODE}?"), node("boot-1", None)).with_body(
                json!({ "metadata": { "annotations": { REBOOT_REQUEST_ANNOTATION: null } } }),
            ),
            Exchange::new(Method::GET, NODE, node("boot-1", None)),
        ])
        .await;
        assert_eq!(
            admin.cancel_reboot("n1").await.unwrap(),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            admin.cancel_reboot("n1").await.unwrap(),
            CancelOutcome::NotRequested
        );
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn status_shows_the_zone_limits_and_each_holders_zone() {
        let args = ["--concurrency=3", "--max-nodes-per-zone=1"];
        let lock = r#"{"maxOwners":3,"locks":[{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-22T02:50:00Z","TTL":0,"drydock":{"zone":"eu-1a"}}]}"#;
        let (mut admin, verifier) = connect(vec![
            Exchange::new(Method::GET, DS, daemonset("10", &args, Some(lock))),
            Exchange::new(
                Method::GET,
                "/api/v1/nodes?",
                json!({ "apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": [] }),
            ),
            Exchange::new(
                Method::GET,
                "/api/v1/namespaces/default/events?&fieldSelector=reason%3DRebootBlocked",
                json!({ "apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [] }),
            ),
        ])
        .await;
        let text = admin.status().await.unwrap().render(now());
        assert!(
            text.contains(
                "  zones (topology.kubernetes.io/zone): at most 1 node(s) per zone, any number \
                 of zones\n  held by n2 for 10m, TTL none, zone \"eu-1a\"\n"
            ),
            "{text}"
        );
        verifier.finish().await;
    }
}
