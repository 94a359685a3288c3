//! The permissions Drydock's daemon uses beyond kured's chart RBAC, and what it does without
//! them.
//!
//! kured's Helm chart grants its daemon `get`/`patch` on Nodes, `get`/`list`/`delete` on pods,
//! `create` on `pods/eviction`, `get` on DaemonSets and `update`/`patch` on its own DaemonSet,
//! nothing else. Drydock's own manifests grant a little more, each for one feature; when a
//! right is missing the daemon falls back to what kured's rights allow:
//!
//! | permission | feature | without it |
//! |---|---|---|
//! | `list nodes` | one call finds every lock holder's Node | each holder's Node is read by name |
//! | `watch nodes` | a deleted holder frees its slot at once | the holders' Nodes are read every [`NODE_POLL`] |
//! | `list`, `watch` the DaemonSet | a freed lock is taken within one watch delivery | the DaemonSet is read every [`LOCK_POLL`] |
//! | `create events` | Node Events (`RebootLockAcquired`, `Draining`, …) | no Events (logs and metrics only) |
//!
//! [`Access`] holds what is known: each permission starts assumed granted, is settled at start
//! by a SelfSubjectAccessReview when the API server answers one, and is marked denied at the
//! first 403 otherwise. A denial is reported once, as a log line naming the verb and resource
//! and as the gauge `drydock_reboot_permission_missing{verb,resource}`, never per turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use jiff::SignedDuration;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

/// How often a waiting node reads the lock's DaemonSet when it may not watch it: hand-over
/// within a few seconds, at one GET per waiting node per interval (kured itself looks once
/// per `--period`, an hour by default).
pub const LOCK_POLL: SignedDuration = SignedDuration::from_secs(5);

/// How often a waiting node reads the lock holders' Nodes when it may not watch Nodes. A
/// holder's Node being deleted is rare (and its TTL, when set, frees the slot too), so this is
/// slower than [`LOCK_POLL`].
pub const NODE_POLL: SignedDuration = SignedDuration::from_secs(30);

/// A permission Drydock uses when it has it and kured's chart does not grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// `list` Nodes.
    ListNodes,
    /// `watch` Nodes.
    WatchNodes,
    /// `list` the lock's DaemonSet (the first step of a watch).
    ListDaemonSet,
    /// `watch` the lock's DaemonSet.
    WatchDaemonSet,
    /// `create` Events.
    CreateEvents,
}

/// Every [`Permission`], in report order.
pub const PERMISSIONS: [Permission; 5] = [
    Permission::ListNodes,
    Permission::WatchNodes,
    Permission::ListDaemonSet,
    Permission::WatchDaemonSet,
    Permission::CreateEvents,
];

impl Permission {
    /// The RBAC verb.
    pub fn verb(self) -> &'static str {
        match self {
            Permission::ListNodes | Permission::ListDaemonSet => "list",
            Permission::WatchNodes | Permission::WatchDaemonSet => "watch",
            Permission::CreateEvents => "create",
        }
    }

    /// The RBAC resource.
    pub fn resource(self) -> &'static str {
        match self {
            Permission::ListNodes | Permission::WatchNodes => "nodes",
            Permission::ListDaemonSet | Permission::WatchDaemonSet => "daemonsets",
            Permission::CreateEvents => "events",
        }
    }

    /// The resource's API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Permission::ListDaemonSet | Permission::WatchDaemonSet => "apps",
            _ => "",
        }
    }

    /// What the daemon does without it.
    pub fn fallback(self) -> String {
        match self {
            Permission::ListNodes => "reading the lock holders' Nodes by name instead".to_owned(),
            Permission::WatchNodes => format!(
                "reading the lock holders' Nodes every {}s to see one deleted",
                NODE_POLL.as_secs()
            ),
            Permission::ListDaemonSet | Permission::WatchDaemonSet => format!(
                "reading the lock's DaemonSet every {}s while waiting for the lock",
                LOCK_POLL.as_secs()
            ),
            Permission::CreateEvents => "no Node Events are recorded".to_owned(),
        }
    }

    fn index(self) -> usize {
        match self {
            Permission::ListNodes => 0,
            Permission::WatchNodes => 1,
            Permission::ListDaemonSet => 2,
            Permission::WatchDaemonSet => 3,
            Permission::CreateEvents => 4,
        }
    }
}

/// What is known of one permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Not asked yet: assumed granted until a 403 says otherwise.
    Unknown,
    /// The API server said yes.
    Granted,
    /// The API server said no (reported once).
    Denied,
}

impl Known {
    fn from_u8(v: u8) -> Known {
        match v {
            1 => Known::Granted,
            2 => Known::Denied,
            _ => Known::Unknown,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Known::Unknown => 0,
            Known::Granted => 1,
            Known::Denied => 2,
        }
    }
}

/// The labels of the missing-permission gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PermissionLabels {
    /// The RBAC verb.
    pub verb: String,
    /// The RBAC resource.
    pub resource: String,
}

/// What the daemon knows of its permissions, shared by the adapter's clones.
#[derive(Clone, Debug, Default)]
pub struct Access {
    states: Arc<[AtomicU8; PERMISSIONS.len()]>,
    missing: Family<PermissionLabels, Gauge>,
}

impl Access {
    /// Registers the missing-permission gauge (0 for every permission until one is denied).
    pub fn register(registry: &mut Registry) -> Access {
        let access = Access::default();
        registry.register(
            "drydock_reboot_permission_missing",
            "Whether a permission Drydock uses beyond kured's RBAC is missing (the daemon falls back)",
            access.missing.clone(),
        );
        for p in PERMISSIONS {
            access.gauge(p).set(0);
        }
        access
    }

    fn gauge(&self, p: Permission) -> Gauge {
        self.missing
            .get_or_create(&PermissionLabels {
                verb: p.verb().to_owned(),
                resource: p.resource().to_owned(),
            })
            .clone()
    }

    /// What is known of `p`.
    pub fn known(&self, p: Permission) -> Known {
        Known::from_u8(self.states[p.index()].load(Ordering::Relaxed))
    }

    /// Whether `p` is known to be missing.
    pub fn denied(&self, p: Permission) -> bool {
        self.known(p) == Known::Denied
    }

    /// Records that `p` is granted.
    pub fn grant(&self, p: Permission) {
        let _ = self.states[p.index()].compare_exchange(
            Known::Unknown.as_u8(),
            Known::Granted.as_u8(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Records that `p` is missing; the first time, reports it (log line and gauge). Returns
    /// whether this call reported it.
    pub fn deny(&self, p: Permission) -> bool {
        let before = self.states[p.index()].swap(Known::Denied.as_u8(), Ordering::Relaxed);
        if Known::from_u8(before) == Known::Denied {
            return false;
        }
        self.gauge(p).set(1);
        warn!(
            verb = p.verb(),
            resource = p.resource(),
            fallback = %p.fallback(),
            "permission missing (one Drydock uses beyond kured's RBAC); falling back"
        );
        true
    }

    /// Logs, once at start, the permissions found granted.
    pub fn log_granted(&self) {
        for p in PERMISSIONS
            .into_iter()
            .filter(|p| self.known(*p) == Known::Granted)
        {
            info!(
                verb = p.verb(),
                resource = p.resource(),
                "permission granted"
            );
        }
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
    fn a_denial_is_reported_once_and_shows_in_the_gauge() {
        let mut registry = Registry::default();
        let access = Access::register(&mut registry);
        assert!(
            text(&registry)
                .contains("drydock_reboot_permission_missing{verb=\"list\",resource=\"nodes\"} 0")
        );
        assert!(!access.denied(Permission::ListNodes));
        assert!(access.deny(Permission::ListNodes));
        assert!(!access.deny(Permission::ListNodes), "reported only once");
        assert!(access.denied(Permission::ListNodes));
        let out = text(&registry);
        assert!(
            out.contains("drydock_reboot_permission_missing{verb=\"list\",resource=\"nodes\"} 1"),
            "{out}"
        );
        assert!(
            out.contains(
                "drydock_reboot_permission_missing{verb=\"create\",resource=\"events\"} 0"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_grant_never_overrides_a_denial() {
        let access = Access::default();
        access.grant(Permission::CreateEvents);
        assert_eq!(access.known(Permission::CreateEvents), Known::Granted);
        access.deny(Permission::WatchNodes);
        access.grant(Permission::WatchNodes);
        assert_eq!(access.known(Permission::WatchNodes), Known::Denied);
    }

    #[test]
    fn each_permission_names_its_verb_resource_and_fallback() {
        let named: Vec<String> = PERMISSIONS
            .iter()
            .map(|p| format!("{} {}", p.verb(), p.resource()))
            .collect();
        assert_eq!(
            named,
            [
                "list nodes",
                "watch nodes",
                "list daemonsets",
                "watch daemonsets",
                "create events"
            ]
        );
        assert!(Permission::WatchDaemonSet.fallback().contains("every 5s"));
    }
}
