//! The health-gated hand-over: after a node is back and uncordoned, its lock entry is released
//! only once the workloads whose pods its drain evicted are whole again, or the gate's timeout
//! passed (kured issues 277 and 973).
//!
//! The drain records each evicted pod's controller as a [`Workload`]; the reboot step writes
//! them into the lock entry ([`crate::lock::DrydockFields::evicted`]), so a daemon restarted
//! mid-gate resumes it from the cluster. The IO layer reads each workload's
//! [`WorkloadHealth`] (its controller's ready replicas and its PodDisruptionBudgets) and
//! [`decide`] says whether to hold on or hand over. Pure: time is an argument.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

/// How long the gate waits by default (`--health-gate-timeout`): long enough for pods that
/// pull images and warm caches after a reschedule, short enough that one broken workload
/// cannot stall a fleet's reboots for more than a few minutes per node.
pub const DEFAULT_TIMEOUT: SignedDuration = SignedDuration::from_mins(10);

/// How often a node in the gate looks at its workloads again (a few GETs per look).
pub const POLL: SignedDuration = SignedDuration::from_secs(5);

/// The controller of an evicted pod: its namespace and the pod's controller as the cluster
/// port names it (`Kind/name` through the Kubernetes API, e.g. `ReplicaSet/web-5d9c`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// The controller (`Kind/name`).
    pub controller: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.controller)
    }
}

impl std::str::FromStr for Workload {
    type Err = String;

    /// Parses `namespace/controller` as written in the lock entry.
    fn from_str(s: &str) -> Result<Workload, String> {
        match s.split_once('/') {
            Some((namespace, controller)) if !namespace.is_empty() && !controller.is_empty() => {
                Ok(Workload {
                    namespace: namespace.to_owned(),
                    controller: controller.to_owned(),
                })
            }
            _ => Err(format!(
                "evicted workload {s:?} is not NAMESPACE/CONTROLLER"
            )),
        }
    }
}

/// What the IO layer found about one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadHealth {
    /// The controller's replicas and the budgets over its pods.
    Observed {
        /// Replicas the controller wants (`spec.replicas`, or `desiredNumberScheduled`).
        desired: u32,
        /// Replicas that are ready (`status.readyReplicas`, or `numberReady`).
        ready: u32,
        /// `status.disruptionsAllowed` of each PodDisruptionBudget selecting its pods.
        budgets: Vec<i32>,
    },
    /// The controller no longer exists: nothing to wait for.
    Gone,
    /// It cannot be read (no permission, a kind the gate does not know): the gate does not
    /// wait for it, as kured would not.
    Unknown(String),
    /// Reading it failed (the API server is unreachable): the gate keeps waiting, but only
    /// until its timeout.
    Unreadable(String),
}

impl WorkloadHealth {
    /// Whether the workload is whole: every replica ready and every budget allowing a
    /// disruption again. A workload that cannot be judged never holds the lock.
    pub fn is_whole(&self) -> bool {
        match self {
            WorkloadHealth::Observed {
                desired,
                ready,
                budgets,
            } => ready >= desired && budgets.iter().all(|allowed| *allowed >= 1),
            WorkloadHealth::Gone | WorkloadHealth::Unknown(_) => true,
            WorkloadHealth::Unreadable(_) => false,
        }
    }

    /// Why the workload is not whole, for logs and the timeout Event.
    pub fn shortfall(&self) -> Option<String> {
        match self {
            WorkloadHealth::Observed {
                desired,
                ready,
                budgets,
            } => {
                if ready < desired {
                    Some(format!("{ready}/{desired} ready"))
                } else if budgets.iter().any(|a| *a < 1) {
                    Some("its PodDisruptionBudget allows no disruption".to_owned())
                } else {
                    None
                }
            }
            WorkloadHealth::Gone | WorkloadHealth::Unknown(_) => None,
            WorkloadHealth::Unreadable(why) => Some(format!("cannot read it: {why}")),
        }
    }
}

/// What the gate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every evicted workload is whole (or there was none): hand the lock on.
    Open,
    /// Some are not whole: look again at `next` (no later than the timeout).
    Wait {
        /// The workloads still short, with why.
        waiting: Vec<(Workload, String)>,
        /// When to look again.
        next: Timestamp,
    },
    /// The timeout passed with these still short: hand the lock on with a warning.
    TimedOut {
        /// The workloads still short, with why.
        waiting: Vec<(Workload, String)>,
    },
}

/// Decides the gate of a node back since `back_since`, from its evicted workloads' health.
pub fn decide(
    health: &[(Workload, WorkloadHealth)],
    back_since: Timestamp,
    timeout: SignedDuration,
    now: Timestamp,
) -> Gate {
    let waiting: Vec<(Workload, String)> = health
        .iter()
        .filter_map(|(w, h)| h.shortfall().map(|why| (w.clone(), why)))
        .collect();
    if waiting.is_empty() {
        return Gate::Open;
    }
    let deadline = back_since.checked_add(timeout).unwrap_or(back_since);
    if now >= deadline {
        return Gate::TimedOut { waiting };
    }
    let next = now.checked_add(POLL).unwrap_or(now).min(deadline);
    Gate::Wait { waiting, next }
}

/// The workloads in a lock entry's `evicted` list; entries that do not parse are skipped
/// with their error (a newer version may write other forms; they never hold the lock).
pub fn parse_evicted(evicted: &[String]) -> (Vec<Workload>, Vec<String>) {
    let mut workloads = Vec::new();
    let mut errors = Vec::new();
    for e in evicted {
        match e.parse::<Workload>() {
            Ok(w) => workloads.push(w),
            Err(error) => errors.push(error),
        }
    }
    (workloads, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-11-22T03:00:00Z".parse().unwrap()
    }

    fn w(name: &str) -> Workload {
        Workload {
            namespace: "shop".into(),
            controller: format!("ReplicaSet/{name}"),
        }
    }

    fn observed(desired: u32, ready: u32, budgets: &[i32]) -> WorkloadHealth {
        WorkloadHealth::Observed {
            desired,
            ready,
            budgets: budgets.to_vec(),
        }
    }

    #[test]
    fn no_evicted_workload_opens_the_gate_at_once() {
        assert_eq!(decide(&[], t0(), DEFAULT_TIMEOUT, t0()), Gate::Open);
    }

    #[test]
    fn all_replicas_ready_and_budgets_allowing_opens_the_gate() {
        let health = [
            (w("web"), observed(3, 3, &[1])),
            (w("db"), observed(1, 1, &[])),
        ];
        assert_eq!(decide(&health, t0(), DEFAULT_TIMEOUT, t0()), Gate::Open);
    }

    #[test]
    fn a_replica_short_holds_the_gate_and_looks_again_after_the_poll() {
        let health = [(w("web"), observed(3, 2, &[1]))];
        assert_eq!(
            decide(&health, t0(), DEFAULT_TIMEOUT, t0()),
            Gate::Wait {
                waiting: vec![(w("web"), "2/3 ready".into())],
                next: t0() + POLL,
            }
        );
    }

    #[test]
    fn a_budget_allowing_no_disruption_holds_the_gate_though_replicas_are_ready() {
        let health = [(w("web"), observed(3, 3, &[1, 0]))];
        assert!(matches!(
            decide(&health, t0(), DEFAULT_TIMEOUT, t0()),
            Gate::Wait { .. }
        ));
    }

    #[test]
    fn the_gate_times_out_exactly_at_the_deadline_and_never_waits_past_it() {
        let health = [(w("web"), observed(3, 0, &[]))];
        let timeout = SignedDuration::from_secs(12);
        let just_before = t0() + SignedDuration::from_secs(10);
        assert_eq!(
            decide(&health, t0(), timeout, just_before),
            Gate::Wait {
                waiting: vec![(w("web"), "0/3 ready".into())],
                next: t0() + timeout,
            }
        );
        assert_eq!(
            decide(&health, t0(), timeout, t0() + timeout),
            Gate::TimedOut {
                waiting: vec![(w("web"), "0/3 ready".into())]
            }
        );
    }

    #[test]
    fn a_failed_read_holds_the_gate_until_the_timeout_only() {
        let health = [(w("web"), WorkloadHealth::Unreadable("API down".into()))];
        assert!(matches!(
            decide(&health, t0(), DEFAULT_TIMEOUT, t0()),
            Gate::Wait { .. }
        ));
        assert!(matches!(
            decide(&health, t0(), DEFAULT_TIMEOUT, t0() + DEFAULT_TIMEOUT),
            Gate::TimedOut { .. }
        ));
    }

    #[test]
    fn a_gone_or_unreadable_workload_never_holds_the_gate() {
        let health = [
            (w("old"), WorkloadHealth::Gone),
            (w("x"), WorkloadHealth::Unknown("forbidden".into())),
        ];
        assert_eq!(decide(&health, t0(), DEFAULT_TIMEOUT, t0()), Gate::Open);
    }

    #[test]
    fn workloads_round_trip_and_garbage_is_named() {
        let web = w("web");
        assert_eq!(web.to_string().parse::<Workload>(), Ok(web.clone()));
        let (ok, errors) = parse_evicted(&[web.to_string(), "nonsense".into(), "/x".into()]);
        assert_eq!(ok, [web]);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("\"nonsense\""), "{}", errors[0]);
    }
}
