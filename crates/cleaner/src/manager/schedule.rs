//! Pure scheduling of automatic runs from state persisted in the cluster.
//!
//! Eraser kept its timer in memory: every manager restart started a new cluster-wide run at
//! once (#1169) and reset the clock. Here the state (when the schedule was enabled, when the
//! last run started and finished) lives in the cluster, and the next run is a pure function of
//! it: a restart recomputes the same answer and starts nothing extra. `beginImmediately` applies
//! only when no run has ever happened.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// What the schedule remembers, persisted as JSON in the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleState {
    /// When automatic mode was first seen enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<Timestamp>,
    /// When the last automatic run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_started: Option<Timestamp>,
    /// When the last automatic run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_finished: Option<Timestamp>,
    /// The ImageJob of the last automatic run (so its end is recorded once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job: Option<String>,
    /// The last `drydock.dev/run-requested` value a run was started for: each distinct value
    /// starts one run, however often the manager restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_run_request: Option<String>,
}

/// What the schedule says to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start a run now.
    StartNow,
    /// A run is in progress: wait for it.
    AwaitRun,
    /// Nothing to do until then.
    WaitUntil(Timestamp),
}

/// Decides the next step. `running` is whether an automatic job exists now.
///
/// The next run is due one interval after the previous one *started*, but never before it
/// finished: the cadence stays fixed (a user who asked for "every 24 h" gets runs 24 h apart)
/// and runs never overlap.
#[must_use]
pub fn next(
    state: &ScheduleState,
    interval: SignedDuration,
    begin_immediately: bool,
    running: bool,
    now: Timestamp,
) -> Next {
    if running {
        return Next::AwaitRun;
    }
    let due = match (state.last_started, state.last_finished) {
        (Some(started), finished) => {
            let by_cadence = started.saturating_add(interval).unwrap_or(started);
            finished.map_or(by_cadence, |finished| by_cadence.max(finished))
        }
        (None, _) if begin_immediately => return Next::StartNow,
        (None, _) => {
            let enabled = state.enabled_at.unwrap_or(now);
            enabled.saturating_add(interval).unwrap_or(enabled)
        }
    };
    if due <= now {
        Next::StartNow
    } else {
        Next::WaitUntil(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn t(hours: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + hours * 3600).unwrap()
    }

    #[test]
    fn begin_immediately_applies_only_before_the_first_run() {
        let fresh = ScheduleState {
            enabled_at: Some(t(0)),
            ..ScheduleState::default()
        };
        assert_eq!(next(&fresh, DAY, true, false, t(0)), Next::StartNow);
        assert_eq!(
            next(&fresh, DAY, false, false, t(0)),
            Next::WaitUntil(t(24))
        );
        let ran = ScheduleState {
            last_started: Some(t(0)),
            last_finished: Some(t(1)),
            ..fresh
        };
        assert_eq!(
            next(&ran, DAY, true, false, t(2)),
            Next::WaitUntil(t(24)),
            "a restart starts no extra run"
        );
    }

    #[test]
    fn runs_keep_their_cadence_and_never_overlap() {
        let state = ScheduleState {
            enabled_at: Some(t(0)),
            last_started: Some(t(0)),
            last_finished: Some(t(30)),
            ..ScheduleState::default()
        };
        assert_eq!(
            next(&state, DAY, true, false, t(25)),
            Next::WaitUntil(t(30))
        );
        assert_eq!(next(&state, DAY, true, false, t(30)), Next::StartNow);
        assert_eq!(next(&state, DAY, true, true, t(40)), Next::AwaitRun);
    }

    #[test]
    fn state_round_trips_as_json() {
        let state = ScheduleState {
            enabled_at: Some(t(0)),
            last_started: Some(t(1)),
            last_finished: None,
            last_job: Some("imagejob-abcde".into()),
            handled_run_request: Some("2027-01-15T08:00:00Z".into()),
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<ScheduleState>(&json).unwrap(), state);
    }
}
