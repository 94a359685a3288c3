//! The reboot daemon's metrics: kured's `kured_reboot_required{node}` gauge, plus Drydock's
//! gauges and counters (lock held, blocked with reason, window active, draining, reboots,
//! drain failures), on one explicit `prometheus-client` registry.
//!
//! The daemon loop knows nothing of metrics. [`Metered`] wraps the [`Cluster`] port and reads
//! them off what crosses it: the lock as read or written (held or not), and the Node Events
//! the loop emits for each step (`Draining`, `Rebooting`, `RebootBlocked`,
//! `RebootAbandoned`, …), which are a stable, documented vocabulary. The sentinel gauge is
//! set by the host adapter each time it checks; the window gauge by the daemon's refresher.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use drydock_kube::admin::Readiness;

use crate::cluster::{
    Cluster, ClusterResult, Event, Eviction, LockRead, Node, NodeList, NodePatch, Pod,
    ResourceVersion, Seen,
};
use crate::health::{Workload, WorkloadHealth};
use crate::lock::{Lock, LockPolicy};

/// The `node` label of kured's gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// The node name.
    pub node: String,
}

/// The `reason` label of the blocked gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `pods`, `alerts`, `reboot-loop` or `other`.
    pub reason: String,
}

/// Every reason the blocked gauge has.
pub const BLOCK_REASONS: [&str; 4] = ["pods", "alerts", "reboot-loop", "other"];

/// The reboot daemon's metrics.
#[derive(Clone, Debug, Default)]
pub struct RebootMetrics {
    node: String,
    reboot_required: Family<NodeLabels, Gauge>,
    lock_held: Gauge,
    blocked: Family<ReasonLabels, Gauge>,
    window_active: Gauge,
    draining: Gauge,
    reboots: Counter,
    drain_failures: Counter,
}

impl RebootMetrics {
    /// Registers the metrics of `node` in `registry`.
    pub fn register(registry: &mut Registry, node: &str) -> RebootMetrics {
        let m = RebootMetrics {
            node: node.to_owned(),
            ..RebootMetrics::default()
        };
        registry.register(
            "kured_reboot_required",
            "OS requires reboot due to software updates",
            m.reboot_required.clone(),
        );
        registry.register(
            "drydock_reboot_lock_held",
            "Whether this node holds the reboot lock",
            m.lock_held.clone(),
        );
        registry.register(
            "drydock_reboot_blocked",
            "Whether a reboot this node needs is blocked, by reason",
            m.blocked.clone(),
        );
        registry.register(
            "drydock_reboot_window_active",
            "Whether the maintenance window is open now",
            m.window_active.clone(),
        );
        registry.register(
            "drydock_reboot_draining",
            "Whether this node is being drained for a reboot",
            m.draining.clone(),
        );
        registry.register(
            "drydock_reboots",
            "Reboots this daemon issued",
            m.reboots.clone(),
        );
        registry.register(
            "drydock_reboot_drain_failures",
            "Drains that failed or timed out",
            m.drain_failures.clone(),
        );
        m.set_reboot_required(false);
        for reason in BLOCK_REASONS {
            m.blocked.get_or_create(&reason_label(reason)).set(0);
        }
        m
    }

    /// Sets kured's gauge from the sentinel; a node that needs no reboot is not blocked.
    pub fn set_reboot_required(&self, required: bool) {
        let labels = NodeLabels {
            node: self.node.clone(),
        };
        self.reboot_required
            .get_or_create(&labels)
            .set(i64::from(required));
        if !required {
            self.clear_blocked();
        }
    }

    /// Sets the window gauge.
    pub fn set_window_active(&self, open: bool) {
        self.window_active.set(i64::from(open));
    }

    /// Sets the lock gauge.
    pub fn set_lock_held(&self, held: bool) {
        self.lock_held.set(i64::from(held));
        if !held {
            self.draining.set(0);
        }
    }

    fn clear_blocked(&self) {
        for reason in BLOCK_REASONS {
            self.blocked.get_or_create(&reason_label(reason)).set(0);
        }
    }

    /// Reads a step off an Event the daemon emits.
    pub fn observe_event(&self, reason: &str, message: &str) {
        match reason {
            "Draining" => {
                self.draining.set(1);
            }
            "Rebooting" => {
                self.draining.set(0);
                self.reboots.inc();
            }
            "RebootAbandoned" => {
                self.draining.set(0);
                if message.starts_with("drain failed") {
                    self.drain_failures.inc();
                }
            }
            "RebootLockAcquired" => self.clear_blocked(),
            "RebootBlocked" => {
                self.clear_blocked();
                for part in message.split("; ") {
                    self.blocked
                        .get_or_create(&reason_label(block_reason(part)))
                        .set(1);
                }
            }
            _ => {}
        }
    }
}

fn reason_label(reason: &str) -> ReasonLabels {
    ReasonLabels {
        reason: reason.to_owned(),
    }
}

/// The reason label of one `Reboot blocked: …` message.
pub fn block_reason(message: &str) -> &'static str {
    if message.contains("matching pods") || message.contains("pod query") {
        "pods"
    } else if message.contains("alerts") || message.contains("prometheus") {
        "alerts"
    } else if message.contains("times in 24h") {
        "reboot-loop"
    } else {
        "other"
    }
}

/// A [`Cluster`] that feeds [`RebootMetrics`] and readiness from the calls crossing it.
#[derive(Clone)]
pub struct Metered<C> {
    inner: C,
    metrics: RebootMetrics,
    policy: LockPolicy,
    node: String,
    ready: Readiness,
}

impl<C> Metered<C> {
    /// Wraps `inner` for the daemon of `node` using `policy`. `ready` turns true on the first
    /// successful lock read.
    pub fn new(
        inner: C,
        metrics: RebootMetrics,
        policy: LockPolicy,
        node: &str,
        ready: Readiness,
    ) -> Metered<C> {
        Metered {
            inner,
            metrics,
            policy,
            node: node.to_owned(),
            ready,
        }
    }

    fn observe_lock(&self, value: Option<&str>) {
        if let Ok(lock) = Lock::decode_for(value, &self.policy) {
            self.metrics.set_lock_held(lock.entry(&self.node).is_some());
        }
    }
}

impl<C: Cluster + Sync> Cluster for Metered<C> {
    async fn read_lock(&self) -> ClusterResult<LockRead> {
        let read = self.inner.read_lock().await?;
        self.ready.set(true);
        self.observe_lock(read.value.as_deref());
        Ok(read)
    }

    async fn write_lock(
        &self,
        value: Option<String>,
        expected: &ResourceVersion,
    ) -> ClusterResult<ResourceVersion> {
        let observed = value.clone();
        let version = self.inner.write_lock(value, expected).await?;
        self.observe_lock(observed.as_deref());
        Ok(version)
    }

    async fn wait_for_change(&self, seen: &Seen) {
        self.inner.wait_for_change(seen).await;
    }

    async fn get_node(&self, name: &str) -> ClusterResult<Option<Node>> {
        self.inner.get_node(name).await
    }

    async fn list_nodes(&self, wanted: &[String]) -> ClusterResult<NodeList> {
        self.inner.list_nodes(wanted).await
    }

    async fn cordon(&self, node: &str) -> ClusterResult<()> {
        self.inner.cordon(node).await
    }

    async fn uncordon(&self, node: &str) -> ClusterResult<()> {
        self.inner.uncordon(node).await
    }

    async fn patch_node(&self, node: &str, patch: &NodePatch) -> ClusterResult<()> {
        self.inner.patch_node(node, patch).await
    }

    async fn list_pods(&self, node: &str) -> ClusterResult<Vec<Pod>> {
        self.inner.list_pods(node).await
    }

    async fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<u32>,
    ) -> ClusterResult<Eviction> {
        self.inner
            .evict(namespace, name, grace_period_seconds)
            .await
    }

    async fn emit_event(&self, event: Event) -> ClusterResult<()> {
        self.metrics.observe_event(&event.reason, &event.message);
        self.inner.emit_event(event).await
    }

    async fn workload_health(&self, workload: &Workload) -> ClusterResult<WorkloadHealth> {
        self.inner.workload_health(workload).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn kureds_gauge_is_exposed_under_its_name_with_the_node_label() {
        let mut registry = Registry::default();
        let m = RebootMetrics::register(&mut registry, "n1");
        assert!(text(&registry).contains("kured_reboot_required{node=\"n1\"} 0"));
        m.set_reboot_required(true);
        let out = text(&registry);
        assert!(out.contains("# TYPE kured_reboot_required gauge"), "{out}");
        assert!(
            out.contains("kured_reboot_required{node=\"n1\"} 1"),
            "{out}"
        );
    }

    #[test]
    fn events_drive_the_drydock_metrics() {
        let mut registry = Registry::default();
        let m = RebootMetrics::register(&mut registry, "n1");
        m.observe_event(
            "RebootBlocked",
            "Reboot blocked: matching pods: [db]; Reboot blocked: 1 active alerts: [X]",
        );
        let out = text(&registry);
        assert!(
            out.contains("drydock_reboot_blocked{reason=\"pods\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("drydock_reboot_blocked{reason=\"alerts\"} 1"),
            "{out}"
        );
        m.set_lock_held(true);
        m.observe_event("RebootLockAcquired", "took the lock");
        m.observe_event("Draining", "Draining node n1");
        let out = text(&registry);
        assert!(
            out.contains("drydock_reboot_blocked{reason=\"pods\"} 0"),
            "{out}"
        );
        assert!(out.contains("drydock_reboot_draining 1"), "{out}");
        assert!(out.contains("drydock_reboot_lock_held 1"), "{out}");
        m.observe_event(
            "RebootAbandoned",
            "drain failed (global timeout reached); …",
        );
        m.observe_event("Rebooting", "Rebooting node n1");
        let out = text(&registry);
        assert!(
            out.contains("drydock_reboot_drain_failures_total 1"),
            "{out}"
        );
        assert!(out.contains("drydock_reboots_total 1"), "{out}");
        assert!(out.contains("drydock_reboot_draining 0"), "{out}");
    }
}
