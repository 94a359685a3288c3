//! The predicted finish `drydock reboot status` shows: when the nodes queued for a reboot will
//! all have rebooted, from measured per-node durations and the windows.
//!
//! Each node's daemon records how long its last hold took, from taking the lock to the verified
//! reboot, in [`REBOOT_DURATION_ANNOTATION`] on its Node. The forecast takes the median of
//! those, and lets the queue go in waves of `--concurrency` nodes: a wave starts at the next
//! moment a window is open and lasts the median (a window gates a node's start, not its end, as
//! in the daemon). Pure: the caller passes `now`.

use jiff::{SignedDuration, Timestamp};

use crate::window::Schedule;

/// The Node annotation holding the duration of the node's last reboot hold (lock taken to
/// reboot verified), in whole seconds.
pub const REBOOT_DURATION_ANNOTATION: &str = "drydock.dev/last-reboot-seconds";

/// How many waves the forecast walks before giving up (a queue that long, or windows that
/// rarely open, make any estimate meaningless).
const MAX_WAVES: usize = 10_000;

/// Reads a [`REBOOT_DURATION_ANNOTATION`] value; `None` for anything but a positive whole
/// number of seconds (a hand-edited value is ignored, never fatal).
pub fn parse_duration_annotation(text: &str) -> Option<SignedDuration> {
    let seconds: i64 = text.trim().parse().ok()?;
    (seconds > 0).then(|| SignedDuration::from_secs(seconds))
}

/// The median of `durations` (the lower middle of an even count); `None` when empty.
pub fn median(durations: &[SignedDuration]) -> Option<SignedDuration> {
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len().checked_sub(1)? / 2;
    sorted.get(middle).copied()
}

/// When `queued` nodes, going `concurrency` at a time and taking `per_node` each, will all be
/// done, starting no earlier than `now` and only while `schedule` has a window open. `None`
/// when no window ever opens again.
pub fn predict_finish(
    queued: usize,
    concurrency: u32,
    per_node: SignedDuration,
    schedule: &Schedule,
    now: Timestamp,
) -> Option<Timestamp> {
    let width = usize::try_from(concurrency.max(1)).unwrap_or(1);
    let waves = queued.div_ceil(width);
    if waves > MAX_WAVES {
        return None;
    }
    let mut t = now;
    for _ in 0..waves {
        let start = schedule.next_opening(t)?;
        t = start.checked_add(per_node).ok()?;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Window, parse_window};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    #[test]
    fn the_median_is_the_middle_measurement() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[mins(5)]), Some(mins(5)));
        assert_eq!(median(&[mins(9), mins(1), mins(5)]), Some(mins(5)));
        assert_eq!(median(&[mins(9), mins(1), mins(5), mins(7)]), Some(mins(5)));
    }

    #[test]
    fn only_positive_whole_seconds_are_read() {
        assert_eq!(
            parse_duration_annotation("312"),
            Some(SignedDuration::from_secs(312))
        );
        for bad in ["", "0", "-5", "5m", "1.5", "lots"] {
            assert_eq!(parse_duration_annotation(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_always_open_window_makes_waves_back_to_back() {
        let always = Schedule::new(Window::always(), Vec::new());
        let now = at("2026-11-22T03:00:00Z");
        assert_eq!(predict_finish(0, 1, mins(10), &always, now), Some(now));
        assert_eq!(
            predict_finish(5, 1, mins(10), &always, now),
            Some(at("2026-11-22T03:50:00Z"))
        );
        assert_eq!(
            predict_finish(5, 2, mins(10), &always, now),
            Some(at("2026-11-22T03:30:00Z")),
            "three waves of at most two"
        );
    }

    #[test]
    fn waves_wait_for_the_next_window() {
        // One hour on Saturdays and Sundays, 01:00-02:00 UTC; each node takes 40 minutes.
        let weekend = Schedule::new(
            Window::always(),
            vec![parse_window("sat,sun 01:00-02:00", None).unwrap()],
        );
        let sunday_3am = at("2026-11-22T03:00:00Z");
        // Sat 28th 01:00 → 01:40 (the window is still open: the second starts at once) →
        // 02:20; the third waits for Sunday 29th 01:00 → 01:40.
        assert_eq!(
            predict_finish(3, 1, mins(40), &weekend, sunday_3am),
            Some(at("2026-11-29T01:40:00Z"))
        );
        let never = Schedule::new(
            Window::always(),
            vec![parse_window("sun 01:00-02:00", None).unwrap()],
        );
        assert!(predict_finish(1, 1, mins(1), &never, sunday_3am).is_some());
    }

    #[test]
    fn no_window_ever_opening_gives_no_estimate() {
        let closed = Schedule::new(
            Window::new(
                crate::window::Weekdays::NONE,
                jiff::civil::Time::MIN,
                jiff::civil::Time::MAX,
                jiff::tz::TimeZone::UTC,
                "UTC",
            ),
            Vec::new(),
        );
        assert_eq!(
            predict_finish(2, 1, mins(5), &closed, at("2026-11-22T03:00:00Z")),
            None
        );
    }
}
