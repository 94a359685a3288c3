//! The manager's metrics, under Eraser's names (`reference/eraser.md` §6) so existing
//! dashboards and alerts keep working, served on the manager's Prometheus `/metrics`.
//!
//! Eraser emitted the per-node counters from the worker containers over OTLP; Drydock's manager
//! reads the remover's termination message instead and counts for it, so the numbers exist
//! without an OpenTelemetry collector. Each finished job is counted once, when its status turns
//! Completed or Failed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Eraser's explicit buckets of `imagejob_duration_run_seconds`, in seconds.
pub const DURATION_BUCKETS: [f64; 7] = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0];

/// The `node_name` label Eraser's per-node counters carry (`node name` in OTel, which Prometheus
/// spells `node_name`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// The node.
    pub node_name: String,
}

/// The labels of a missing permission.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PermissionLabels {
    /// The RBAC verb.
    pub verb: String,
    /// The RBAC resource.
    pub resource: String,
}

/// The label of a per-controller metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `imagelist`, `imagejob` or `schedule`.
    pub controller: String,
}

/// The `severity` label of the in-use vulnerability gauge (`CRITICAL`, `HIGH`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    /// The severity's name.
    pub severity: String,
}

/// The manager's metrics. Cloning shares the underlying counters.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `images_removed_run_total{node_name}`: images removed, per node.
    pub images_removed: Family<NodeLabels, Counter>,
    /// `vulnerable_images_run_total{node_name}`: images the scanner condemned, per node (the
    /// remover's removals in automatic mode with the scanner enabled).
    pub vulnerable_images: Family<NodeLabels, Counter>,
    /// `imagejob_run_total`: finished ImageJobs.
    pub jobs: Counter,
    /// `pods_completed_run_total`: worker pods that succeeded.
    pub pods_completed: Counter,
    /// `pods_failed_run_total`: worker pods that failed (or never started).
    pub pods_failed: Counter,
    /// `imagejob_duration_run_seconds`: from the job's creation to its end.
    pub duration: Histogram,
    /// `drydock_image_cleaner_breaker_open`: 1 while the circuit breaker on job starts is open
    /// ([`crate::manager::breaker`]); Drydock's own, Eraser had none.
    pub breaker_open: Gauge,
    /// `drydock_image_cleaner_permission_missing{verb,resource}`: 1 for each permission the
    /// API server refused the manager (it then goes on without: no Events, pods deleted one by
    /// one).
    pub permission_missing: Family<PermissionLabels, Gauge>,
    /// `drydock_vulndb_records_skipped`: OSV records the served vulnerability index skipped
    /// as unreadable (named in the build's logs and `drydock vulndb info`).
    pub vulndb_records_skipped: Gauge,
    /// `drydock_image_cleaner_reconcile_errors_total{controller}`: failed reconciles (or
    /// schedule steps), each retried; a rate above zero for long means the manager is stuck.
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    /// `drydock_image_cleaner_vulnerable_images_in_use{severity}`: distinct images in use
    /// with at least one finding of the severity, in the newest in-use report
    /// ([`crate::vulnreport`]); absent until a run made one.
    pub vulnerable_images_in_use: Family<SeverityLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            images_removed: Family::default(),
            vulnerable_images: Family::default(),
            jobs: Counter::default(),
            pods_completed: Counter::default(),
            pods_failed: Counter::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            breaker_open: Gauge::default(),
            permission_missing: Family::default(),
            vulndb_records_skipped: Gauge::default(),
            reconcile_errors: Family::default(),
            vulnerable_images_in_use: Family::default(),
        }
    }
}

// === impl Metrics ===

impl Metrics {
    /// Registers fresh metrics in `registry` (the `_total` suffixes and the `_seconds` unit are
    /// added by the encoder, giving Eraser's names).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "images_removed_run",
            "total images removed",
            metrics.images_removed.clone(),
        );
        registry.register(
            "vulnerable_images_run",
            "total vulnerable images detected",
            metrics.vulnerable_images.clone(),
        );
        registry.register(
            "imagejob_run",
            "total ImageJobs completed",
            metrics.jobs.clone(),
        );
        registry.register(
            "pods_completed_run",
            "total pods completed",
            metrics.pods_completed.clone(),
        );
        registry.register(
            "pods_failed_run",
            "total pods failed",
            metrics.pods_failed.clone(),
        );
        registry.register_with_unit(
            "imagejob_duration_run",
            "duration of ImageJobs",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "drydock_image_cleaner_breaker_open",
            "1 while too many ImageJobs were started in a short window and no more are started",
            metrics.breaker_open.clone(),
        );
        registry.register(
            "drydock_image_cleaner_permission_missing",
            "1 for each permission the manager's role lacks (it goes on without)",
            metrics.permission_missing.clone(),
        );
        registry.register(
            "drydock_vulndb_records_skipped",
            "OSV records the served vulnerability index skipped as unreadable",
            metrics.vulndb_records_skipped.clone(),
        );
        registry.register(
            "drydock_image_cleaner_reconcile_errors",
            "failed reconciles per controller (each is retried)",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "drydock_image_cleaner_vulnerable_images_in_use",
            "images in use with at least one vulnerability of the severity, in the newest in-use report",
            metrics.vulnerable_images_in_use.clone(),
        );
        metrics
    }

    /// Counts one failed reconcile of `controller`.
    pub fn reconcile_failed(&self, controller: &str) {
        self.reconcile_errors
            .get_or_create(&ControllerLabels {
                controller: controller.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_erasers() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics
            .images_removed
            .get_or_create(&NodeLabels {
                node_name: "n1".into(),
            })
            .inc_by(3);
        metrics.jobs.inc();
        metrics.pods_completed.inc_by(2);
        metrics.pods_failed.inc();
        metrics.duration.observe(12.0);
        metrics.breaker_open.set(1);
        metrics.reconcile_failed("imagejob");
        metrics.reconcile_failed("imagejob");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "images_removed_run_total{node_name=\"n1\"} 3",
            "imagejob_run_total 1",
            "pods_completed_run_total 2",
            "pods_failed_run_total 1",
            "imagejob_duration_run_seconds_count 1",
            "drydock_image_cleaner_breaker_open 1",
            "drydock_image_cleaner_reconcile_errors_total{controller=\"imagejob\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
