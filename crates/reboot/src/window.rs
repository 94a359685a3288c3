//! The maintenance window: on which weekdays and between which wall-clock times a node may
//! reboot, in which time zone.
//!
//! Semantics follow kured's `pkg/timewindow`:
//! - the *current* local weekday must be in the day set (a window that wraps midnight is
//!   judged by the calendar day of the instant, not the day it opened: with
//!   `mon,tue,wed,fri 11:59pm–00:01am`, Thursday 23:59 is closed and Friday 00:00 is open);
//! - the start is inclusive, and the end is inclusive up to the last nanosecond of its second;
//! - a start later than the end wraps midnight: open from the start to midnight and from
//!   midnight to the end.
//!
//! Drydock compares *wall-clock* times in the zone, so a window behaves the same on the days
//! daylight-saving time changes (a 23 h or 25 h day) as on any other; kured shifts by 24
//! absolute hours instead, which only differs within the skipped or repeated hour. Zones come
//! from the tz database bundled into the binary, never from the host.

use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ToSpan};

/// How many days ahead [`Window::next_opening`] looks: a full week plus one day covers every
/// weekday set, including a window that opens just after midnight of the same weekday.
const NEXT_OPENING_HORIZON_DAYS: i32 = 8;

/// A set of weekdays, as given to `--reboot-days`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Every day of the week (kured's default `su,mo,tu,we,th,fr,sa`).
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    /// The empty set: the window never opens.
    pub const NONE: Weekdays = Weekdays(0);

    /// Parses kured's day list: each item is `su`/`sun`/`sunday` … `sa`/`sat`/`saturday`
    /// (any case) or a number `0`–`6` (Sunday is 0). Empty items are skipped.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Weekdays, String> {
        let mut set = Weekdays::NONE;
        for item in items {
            let item = item.as_ref().trim();
            if item.is_empty() {
                continue;
            }
            set = set.with(parse_weekday(item)?);
        }
        Ok(set)
    }

    /// This set with `day` added.
    #[must_use]
    pub fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | 1 << day.to_sunday_zero_offset())
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_sunday_zero_offset()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Prints the set as kured does in its start-up line: `Sun---Tue---Thu------`.
impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        for (offset, name) in NAMES.iter().enumerate() {
            f.write_str(if self.0 & (1 << offset) != 0 {
                name
            } else {
                "---"
            })?;
        }
        Ok(())
    }
}

fn parse_weekday(item: &str) -> Result<Weekday, String> {
    if let Ok(n) = item.parse::<i64>() {
        return i8::try_from(n)
            .ok()
            .filter(|n| (0..7).contains(n))
            .and_then(|n| Weekday::from_sunday_zero_offset(n).ok())
            .ok_or_else(|| format!("weekday number {item} is out of range 0-6 (0 is Sunday)"));
    }
    let day = match item.to_ascii_lowercase().as_str() {
        "su" | "sun" | "sunday" => Weekday::Sunday,
        "mo" | "mon" | "monday" => Weekday::Monday,
        "tu" | "tue" | "tuesday" => Weekday::Tuesday,
        "we" | "wed" | "wednesday" => Weekday::Wednesday,
        "th" | "thu" | "thursday" => Weekday::Thursday,
        "fr" | "fri" | "friday" => Weekday::Friday,
        "sa" | "sat" | "saturday" => Weekday::Saturday,
        _ => {
            return Err(format!(
                "unknown weekday {item:?} (use su..sa, sun..sat, sunday..saturday or 0-6)"
            ));
        }
    };
    Ok(day)
}

/// Parses a time of day with kured's Go layouts, tried in order: `15:04`, `15:04:05`,
/// `03:04pm`, `15`, `03pm`, `3pm`. Minutes and seconds take two digits, a 24-hour hour one or
/// two, a 12-hour hour two except in `3pm`; `am`/`pm` are lower case (`9:30am` and `9PM` are
/// refused, as in kured).
pub fn parse_time_of_day(s: &str) -> Result<Time, String> {
    let err = || format!("unparsable time {s:?} (use 15:04, 15:04:05, 03:04pm, 15, 03pm or 3pm)");
    // Each layout: (hour digits allowed, 12-hour clock, parts after the hour).
    let try_layout = |min_hour_digits: usize, twelve: bool, colon_parts: usize| -> Option<Time> {
        let (body, meridiem) = if twelve {
            let (body, m) = s.split_at(s.len().checked_sub(2)?);
            (body, Some(m))
        } else {
            (s, None)
        };
        let mut parts = body.split(':');
        let hour_text = parts.next()?;
        if !(min_hour_digits..=2).contains(&hour_text.len())
            || !hour_text.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut hour: i8 = hour_text.parse().ok()?;
        let mut rest = [0_i8; 2];
        for slot in rest.iter_mut().take(colon_parts) {
            let text = parts.next()?;
            if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = text.parse().ok().filter(|v| *v < 60)?;
        }
        if parts.next().is_some() {
            return None;
        }
        match meridiem {
            None if hour >= 24 => return None,
            None => {}
            Some(_) if hour > 12 => return None,
            Some("am") if hour == 12 => hour = 0,
            Some("am") => {}
            Some("pm") if hour < 12 => hour += 12,
            Some("pm") => {}
            Some(_) => return None,
        }
        Time::new(hour, rest[0], rest[1], 0).ok()
    };
    try_layout(1, false, 1)
        .or_else(|| try_layout(1, false, 2))
        .or_else(|| try_layout(2, true, 1))
        .or_else(|| try_layout(1, false, 0))
        .or_else(|| try_layout(2, true, 0))
        .or_else(|| try_layout(1, true, 0))
        .ok_or_else(err)
}

/// Resolves a `--time-zone` value from the bundled tz database. `Local` (allowed by kured)
/// means the zone in `tz_env` (the container's `TZ` variable), or UTC when it is unset, which
/// is what kured's container, which has no `/etc/localtime`, does.
pub fn resolve_time_zone(name: &str, tz_env: Option<&str>) -> Result<TimeZone, String> {
    let db = TimeZoneDatabase::bundled();
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => match tz_env.map(|tz| tz.trim_start_matches(':')) {
            None | Some("") => Ok(TimeZone::UTC),
            Some(tz) => db
                .get(tz)
                .map_err(|e| format!("Local resolves to TZ={tz:?}, which is unknown: {e}")),
        },
        other => db
            .get(other)
            .map_err(|e| format!("unknown time zone {other:?}: {e}")),
    }
}

/// A maintenance window. Build it with [`Window::new`] (or through the daemon's config).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    days: Weekdays,
    start: Time,
    /// The end time, already extended to the last nanosecond of its second.
    end: Time,
    tz: TimeZone,
    tz_name: String,
}

impl Window {
    /// A window open on `days` from `start` to `end` (inclusive, to the end of that second),
    /// wall-clock in `tz`, which prints as `tz_name`.
    pub fn new(days: Weekdays, start: Time, end: Time, tz: TimeZone, tz_name: &str) -> Window {
        let end = end
            .with()
            .subsec_nanosecond(999_999_999)
            .build()
            .unwrap_or(end);
        Window {
            days,
            start: start.with().subsec_nanosecond(0).build().unwrap_or(start),
            end,
            tz,
            tz_name: tz_name.to_owned(),
        }
    }

    /// A window that is always open (kured's defaults: every day, 0:00 to 23:59:59, UTC).
    pub fn always() -> Window {
        Window::new(
            Weekdays::ALL,
            Time::MIN,
            Time::constant(23, 59, 59, 0),
            TimeZone::UTC,
            "UTC",
        )
    }

    /// The weekdays the window opens on.
    pub fn days(&self) -> Weekdays {
        self.days
    }

    /// The zone the window's times are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether the window wraps midnight (its start is later than its end).
    pub fn wraps_midnight(&self) -> bool {
        self.start > self.end
    }

    /// Whether a reboot may happen at `now`.
    pub fn contains(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.tz.clone()).datetime();
        if !self.days.contains(local.weekday()) {
            return false;
        }
        let t = local.time();
        if self.wraps_midnight() {
            t >= self.start || t <= self.end
        } else {
            self.start <= t && t <= self.end
        }
    }

    /// The earliest instant at or after `now` at which the window is open, or `None` when it
    /// never opens (an empty day set).
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        if self.contains(now) {
            return Some(now);
        }
        let today: Date = now.to_zoned(self.tz.clone()).date();
        (0..=NEXT_OPENING_HORIZON_DAYS)
            .filter_map(|offset| today.checked_add(offset.days()).ok())
            .filter(|day| self.days.contains(day.weekday()))
            .flat_map(|day| {
                let midnight = self.wraps_midnight().then(|| day.to_datetime(Time::MIN));
                [midnight, Some(day.to_datetime(self.start))]
            })
            .flatten()
            .filter_map(|dt| self.first_instant_at_or_after(dt))
            .filter(|t| *t > now && self.contains(*t))
            .min()
    }
}

impl Window {
    /// The first instant whose wall-clock time in the zone is `dt` or, when `dt` falls in a
    /// daylight-saving gap, the first instant after the gap.
    fn first_instant_at_or_after(&self, dt: jiff::civil::DateTime) -> Option<Timestamp> {
        let ambiguous = self.tz.to_ambiguous_timestamp(dt);
        let compatible = ambiguous.compatible().ok()?;
        match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => self
                .tz
                .preceding(compatible)
                .next()
                .map(|tr| tr.timestamp()),
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => Some(compatible),
        }
    }
}

/// Prints the window as kured's start-up line does:
/// `SunMonTueWedThuFriSat between 00:00 and 23:59 UTC`.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} between {:02}:{:02} and {:02}:{:02} {}",
            self.days,
            self.start.hour(),
            self.start.minute(),
            self.end.hour(),
            self.end.minute(),
            self.tz_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn window(days: &str, start: &str, end: &str, tz: &str) -> Window {
        let days: Vec<&str> = days.split(',').collect();
        Window::new(
            Weekdays::parse(&days).unwrap(),
            parse_time_of_day(start).unwrap(),
            parse_time_of_day(end).unwrap(),
            resolve_time_zone(tz, None).unwrap(),
            tz,
        )
    }

    /// Parses kured's test instants, `2019/04/05 9:01 PDT`, in the window's zone; the
    /// abbreviation picks the offset as Go's `time.ParseInLocation` does for these cases.
    fn instant(s: &str) -> Timestamp {
        let (datetime, abbrev) = s.rsplit_once(' ').unwrap();
        let offset = match abbrev {
            "PDT" => "-07:00",
            "PST" => "-08:00",
            "UTC" => "+00:00",
            other => panic!("unexpected zone {other}"),
        };
        let (date, time) = datetime.split_once(' ').unwrap();
        let (h, m) = time.split_once(':').unwrap();
        format!("{}T{:0>2}:{}:00{offset}", date.replace('/', "-"), h, m)
            .parse()
            .unwrap()
    }

    /// One schedule of kured's table: days, start, end, zone, and (instant, open?) cases.
    type Schedule = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [(&'static str, bool)],
    );

    #[test]
    fn kured_window_table_passes() {
        // kured pkg/timewindow/timewindow_test.go TestTimeWindows, verbatim.
        let table: &[Schedule] = &[
            (
                "",
                "9am",
                "5pm",
                "America/Los_Angeles",
                &[
                    ("2019/03/31 10:00 PDT", false),
                    ("2019/04/04 00:49 PDT", false),
                    ("2019/04/04 12:00 PDT", false),
                    ("2019/04/04 11:59 UTC", false),
                    ("2019/04/05 08:59 PDT", false),
                    ("2019/04/05 9:01 PDT", false),
                ],
            ),
            (
                "mon,tue,wed,thu,fri",
                "9am",
                "5pm",
                "America/Los_Angeles",
                &[
                    ("2019/03/31 10:00 PDT", false),
                    ("2019/04/04 00:49 PDT", false),
                    ("2019/04/04 12:00 PDT", true),
                    ("2019/04/04 11:59 UTC", false),
                    ("2019/04/05 08:59 PDT", false),
                    ("2019/04/05 9:01 PDT", true),
                ],
            ),
            (
                "mon,we,fri",
                "10:01",
                "11:30am",
                "America/Los_Angeles",
                &[
                    ("2019/04/05 10:30 PDT", true),
                    ("2019/04/06 10:30 PDT", false),
                    ("2019/04/07 10:30 PDT", false),
                    ("2019/04/08 10:30 PDT", true),
                    ("2019/04/09 10:30 PDT", false),
                    ("2019/04/10 10:30 PDT", true),
                    ("2019/04/11 10:30 PDT", false),
                ],
            ),
            (
                "mo,tu,we,th,fr",
                "00:00",
                "23:59:59",
                "UTC",
                &[
                    ("2019/04/18 00:00 UTC", true),
                    ("2019/04/18 23:59 UTC", true),
                ],
            ),
            (
                "mon,tue,wed,thu,fri",
                "9pm",
                "5am",
                "America/Los_Angeles",
                &[
                    ("2019/03/30 04:00 PDT", false),
                    ("2019/03/31 10:00 PDT", false),
                    ("2019/03/31 22:00 PDT", false),
                    ("2019/04/04 00:49 PDT", true),
                    ("2019/04/04 12:00 PDT", false),
                    ("2019/04/04 22:49 PDT", true),
                    ("2019/04/05 00:49 PDT", true),
                    ("2019/04/05 08:59 PDT", false),
                    ("2019/04/05 9:01 PDT", false),
                ],
            ),
            (
                "mon,tue,wed,thu,fri",
                "11:59pm",
                "00:01am",
                "America/Los_Angeles",
                &[
                    ("2019/04/04 23:58 PDT", false),
                    ("2019/04/04 23:59 PDT", true),
                    ("2019/04/05 00:00 PDT", true),
                    ("2019/04/05 00:01 PDT", true),
                    ("2019/04/05 00:02 PDT", false),
                ],
            ),
            (
                "mon,tue,wed,fri",
                "11:59pm",
                "00:01am",
                "America/Los_Angeles",
                &[
                    ("2019/04/04 23:58 PDT", false),
                    ("2019/04/04 23:59 PDT", false),
                    ("2019/04/05 00:00 PDT", true),
                    ("2019/04/05 00:02 PDT", false),
                ],
            ),
            (
                "mon,tue,wed,thu",
                "11:59pm",
                "00:01am",
                "America/Los_Angeles",
                &[
                    ("2019/04/04 23:58 PDT", false),
                    ("2019/04/04 23:59 PDT", true),
                    ("2019/04/05 00:00 PDT", false),
                    ("2019/04/05 00:02 PDT", false),
                ],
            ),
            (
                "mon,tue,wed,thu,fri",
                "11:59pm",
                "00:01am",
                "UTC",
                &[
                    ("2019/04/04 23:58 UTC", false),
                    ("2019/04/04 23:59 UTC", true),
                    ("2019/04/05 00:00 UTC", true),
                    ("2019/04/05 00:01 UTC", true),
                    ("2019/04/05 00:02 UTC", false),
                ],
            ),
        ];
        for (days, start, end, tz, cases) in table {
            let w = window(days, start, end, tz);
            for (at, expected) in *cases {
                assert_eq!(w.contains(instant(at)), *expected, "({w}) contains ({at})");
            }
        }
    }

    #[test]
    fn kured_weekday_table_prints_like_kured() {
        // kured pkg/timewindow/days_test.go TestParseWeekdays.
        for (input, printed) in [
            ("0,4", "Sun---------Thu------"),
            ("su,mo,tu", "SunMonTue------------"),
            ("sunday,tu,thu", "Sun---Tue---Thu------"),
            ("THURSDAY", "------------Thu------"),
            ("we,WED,WeDnEsDaY", "---------Wed---------"),
            ("", "---------------------"),
            (",,,", "---------------------"),
        ] {
            let items: Vec<&str> = input.split(',').collect();
            assert_eq!(
                Weekdays::parse(&items).unwrap().to_string(),
                printed,
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_or_out_of_range_weekdays_are_refused() {
        for bad in ["15", "-8", "8", "mon,tue,wed,fridayyyy"] {
            let items: Vec<&str> = bad.split(',').collect();
            assert!(Weekdays::parse(&items).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_layouts_match_go() {
        let ok = |s: &str, h: i8, m: i8, sec: i8| {
            assert_eq!(
                parse_time_of_day(s).unwrap(),
                Time::constant(h, m, sec, 0),
                "{s}"
            );
        };
        ok("0:00", 0, 0, 0);
        ok("23:59:59", 23, 59, 59);
        ok("9am", 9, 0, 0);
        ok("5pm", 17, 0, 0);
        ok("11:30am", 11, 30, 0);
        ok("11:59pm", 23, 59, 0);
        ok("00:01am", 0, 1, 0);
        ok("12am", 0, 0, 0);
        ok("12pm", 12, 0, 0);
        ok("15", 15, 0, 0);
        ok("03pm", 15, 0, 0);
        for bad in [
            "9:30am",
            "9PM",
            "24:00",
            "12:60",
            "13pm",
            "noon",
            "",
            "1:2",
            "10:00:00:00",
        ] {
            assert!(parse_time_of_day(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn unknown_time_zones_are_refused_and_local_follows_tz() {
        assert!(resolve_time_zone("Mars/Olympus", None).is_err());
        assert_eq!(resolve_time_zone("Local", None).unwrap(), TimeZone::UTC);
        assert!(resolve_time_zone("Local", Some("Europe/Rome")).is_ok());
        assert!(resolve_time_zone("Local", Some("Nowhere/Else")).is_err());
    }

    #[test]
    fn window_prints_like_kureds_startup_line() {
        assert_eq!(
            Window::always().to_string(),
            "SunMonTueWedThuFriSat between 00:00 and 23:59 UTC"
        );
    }

    #[test]
    fn a_window_keeps_its_wall_clock_hours_across_a_dst_change() {
        // 2019-03-10 is the spring-forward Sunday in Los Angeles (a 23 h day), 2019-11-03 the
        // fall-back one (25 h); 1am-4am stays 1am-4am local on both.
        let w = window("su", "1am", "4am", "America/Los_Angeles");
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        assert!(w.contains(at("2019-03-10T01:30:00-08:00")));
        assert!(w.contains(at("2019-03-10T03:30:00-07:00")));
        assert!(!w.contains(at("2019-03-10T04:00:01-07:00")));
        assert!(w.contains(at("2019-11-03T01:30:00-07:00")));
        assert!(w.contains(at("2019-11-03T01:30:00-08:00")));
        assert!(!w.contains(at("2019-11-03T04:00:01-08:00")));
    }

    #[test]
    fn next_opening_finds_the_next_allowed_weekday() {
        let w = window("sa", "22:00", "02:00", "UTC");
        // Friday 2019-04-05 12:00 UTC: Friday is not allowed, so Saturday 00:00 is not either
        // (Saturday's early part belongs to Saturday, which is allowed): opening is Sat 00:00.
        let friday: Timestamp = "2019-04-05T12:00:00Z".parse().unwrap();
        assert_eq!(
            w.next_opening(friday),
            Some("2019-04-06T00:00:00Z".parse().unwrap())
        );
        let saturday_noon: Timestamp = "2019-04-06T12:00:00Z".parse().unwrap();
        assert_eq!(
            w.next_opening(saturday_noon),
            Some("2019-04-06T22:00:00Z".parse().unwrap())
        );
        assert_eq!(window("", "1am", "2am", "UTC").next_opening(friday), None);
    }

    fn arb_window() -> impl Strategy<Value = Window> {
        let zones = prop::sample::select(vec![
            "UTC",
            "America/Los_Angeles",
            "Europe/Rome",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
        ]);
        (1_u8..128, 0_i8..24, 0_i8..60, 0_i8..24, 0_i8..60, zones).prop_map(
            |(days, sh, sm, eh, em, zone)| {
                Window::new(
                    Weekdays(days),
                    Time::constant(sh, sm, 0, 0),
                    Time::constant(eh, em, 0, 0),
                    resolve_time_zone(zone, None).unwrap(),
                    zone,
                )
            },
        )
    }

    fn arb_instant() -> impl Strategy<Value = Timestamp> {
        // 2000-01-01 .. 2040-01-01, second precision.
        (946_684_800_i64..2_208_988_800).prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    proptest! {
        #[test]
        fn contains_never_opens_on_a_day_outside_the_set(w in arb_window(), now in arb_instant()) {
            let day = now.to_zoned(w.time_zone().clone()).weekday();
            if !w.days().contains(day) {
                prop_assert!(!w.contains(now));
            }
        }

        #[test]
        fn next_opening_is_open_and_nothing_earlier_is(w in arb_window(), now in arb_instant()) {
            let next = w.next_opening(now).unwrap();
            prop_assert!(next >= now);
            prop_assert!(w.contains(next));
            if next > now {
                let just_before = next - jiff::SignedDuration::from_nanos(1);
                prop_assert!(!w.contains(just_before));
            }
            // The window opens at least once a week when any day is allowed.
            prop_assert!(next.duration_since(now) <= jiff::SignedDuration::from_hours(8 * 24));
        }

        #[test]
        fn a_window_and_its_complement_split_a_wrapped_day(
            w in arb_window(), now in arb_instant()
        ) {
            // Swapping start and end turns "wrapped" into "plain" and vice versa; on an allowed
            // day every instant is in one of the two, except exactly at the shared edges.
            let local = now.to_zoned(w.time_zone().clone()).datetime();
            prop_assume!(w.days().contains(local.weekday()));
            let t = local.time();
            let start = w.start;
            let end = w.end.with().subsec_nanosecond(0).build().unwrap();
            prop_assume!(t != start && t != end);
            let swapped = Window::new(w.days, end, start, w.tz.clone(), "swapped");
            prop_assume!(start != end);
            prop_assert_ne!(w.contains(now), swapped.contains(now));
        }
    }
}
