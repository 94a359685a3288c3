//! The circuit breaker on job starts (pure).
//!
//! Every controller that starts ImageJobs asks the breaker first. When more than
//! [`MAX_STARTS`] jobs were started within [`WINDOW`] something is wrong (a status write that
//! never sticks, a cache that never shows the job: Eraser's #1169 cascade, or the 29 jobs in three
//! minutes of a manager whose ImageList status was rejected), and starting more would only put
//! more worker pods on every node. The breaker then opens and stays open — it does not close by
//! itself when the window slides — until a human acts: a configuration change (the manager's
//! ConfigMap) or a manager restart closes it.
//!
//! The starts counted are the ones this process made and the creation times of the ImageJobs
//! the API server lists when a start is considered, so a manager that restarts in a loop still
//! sees the jobs its predecessors left.

use jiff::{SignedDuration, Timestamp};

/// Most job starts allowed within [`WINDOW`]. Legitimate use starts a few an hour at most (one
/// per schedule slot or `image-cleaner run`, one per ImageList edit, each waiting for the
/// previous run of its controller to finish); the failures this guards against start one every
/// few seconds.
pub const MAX_STARTS: usize = 5;

/// The window [`MAX_STARTS`] is counted in: long enough to catch a loop whose jobs fail fast,
/// short enough that a busy afternoon of ImageList edits does not add up.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(10);

/// Whether jobs may be started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Breaker {
    /// Starting is allowed.
    #[default]
    Closed,
    /// Too many starts: nothing starts until a configuration change or a restart.
    Open {
        /// When it opened.
        since: Timestamp,
        /// Why, for the log, the condition and the Event.
        reason: String,
    },
}

/// The breaker and the starts it counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartGuard {
    /// Open or closed.
    pub state: Breaker,
    /// The starts this process made, oldest first.
    pub starts: Vec<Timestamp>,
}

/// What [`StartGuard::check`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start.
    Allow,
    /// Do not start; `newly` is true only on the check that opened the breaker (report once).
    Refuse {
        /// Why.
        reason: String,
        /// This check opened it.
        newly: bool,
    },
}

fn within(at: Timestamp, now: Timestamp) -> bool {
    now.duration_since(at) < WINDOW && at <= now
}

impl StartGuard {
    /// Decides whether one more job may start `now`, given the creation times of the ImageJobs
    /// the API server listed (`listed`). Opens the breaker when the start would exceed
    /// [`MAX_STARTS`] within [`WINDOW`].
    pub fn check(&mut self, listed: &[Timestamp], now: Timestamp) -> Verdict {
        if let Breaker::Open { reason, .. } = &self.state {
            return Verdict::Refuse {
                reason: reason.clone(),
                newly: false,
            };
        }
        self.starts.retain(|at| within(*at, now));
        let seen = listed.iter().filter(|at| within(**at, now)).count();
        // The same job may be in both lists: count the larger, never the sum.
        let recent = self.starts.len().max(seen);
        if recent < MAX_STARTS {
            return Verdict::Allow;
        }
        let reason = format!(
            "{recent} ImageJobs were started within {}m (at most {MAX_STARTS} are expected); \
             starting no more until the configuration changes or the manager restarts",
            WINDOW.as_mins()
        );
        self.state = Breaker::Open {
            since: now,
            reason: reason.clone(),
        };
        Verdict::Refuse {
            reason,
            newly: true,
        }
    }

    /// Counts a start made `now`.
    pub fn record(&mut self, now: Timestamp) {
        self.starts.push(now);
    }

    /// Closes the breaker and forgets the starts (a configuration change: a human acted).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Whether the breaker is open.
    #[must_use]
    pub const fn is_open(&self) -> bool {
        matches!(self.state, Breaker::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_few_starts_pass_and_one_too_many_opens_it_once() {
        let mut guard = StartGuard::default();
        for n in 0..5 {
            assert_eq!(guard.check(&[], t(n * 10)), Verdict::Allow, "start {n}");
            guard.record(t(n * 10));
        }
        let Verdict::Refuse { reason, newly } = guard.check(&[], t(60)) else {
            panic!("the sixth start within ten minutes must be refused");
        };
        assert!(newly);
        assert!(
            reason.starts_with("5 ImageJobs were started within 10m"),
            "{reason}"
        );
        // It stays open, even once the window has slid past every start.
        let later = t(3600);
        assert!(matches!(
            guard.check(&[], later),
            Verdict::Refuse { newly: false, .. }
        ));
        guard.reset();
        assert_eq!(guard.check(&[], later), Verdict::Allow);
    }

    #[test]
    fn starts_spread_over_time_never_open_it() {
        let mut guard = StartGuard::default();
        for n in 0..50 {
            let now = t(n * 150);
            assert_eq!(guard.check(&[], now), Verdict::Allow, "start {n}");
            guard.record(now);
        }
        assert!(!guard.is_open());
    }

    #[test]
    fn jobs_left_by_an_earlier_process_count() {
        let mut guard = StartGuard::default();
        let listed: Vec<Timestamp> = (0..5).map(|n| t(n * 5)).collect();
        assert!(matches!(
            guard.check(&listed, t(30)),
            Verdict::Refuse { newly: true, .. }
        ));
        // Old jobs do not count, nor do the same jobs twice.
        let mut fresh = StartGuard::default();
        let old: Vec<Timestamp> = (0..9).map(t).collect();
        assert_eq!(fresh.check(&old, t(3600)), Verdict::Allow);
        fresh.starts = vec![t(10), t(20)];
        assert_eq!(fresh.check(&[t(10), t(20)], t(30)), Verdict::Allow);
    }
}
