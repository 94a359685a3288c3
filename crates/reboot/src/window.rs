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
//! Drydock adds monthly days ([`MonthlyDay`]: "first Sunday", "last Friday") and several windows
//! at once ([`Schedule`], from the repeatable `--window` flag, [`parse_window`]): a node may
//! start when any of them is open.
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

/// How far ahead [`Window::next_opening`] looks when the window has monthly days: the longest
/// gap between two "first Sunday"s is five weeks, plus a day for a window wrapping midnight,
/// plus margin.
const MONTHLY_HORIZON_DAYS: i32 = 40;

/// Which occurrence of a weekday in its month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nth {
    /// Days 1-7.
    First,
    /// Days 8-14.
    Second,
    /// Days 15-21.
    Third,
    /// Days 22-28.
    Fourth,
    /// The last seven days of the month.
    Last,
}

/// A monthly day: the `nth` `weekday` of every month (`first-sun`, `last-fri`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthlyDay {
    /// Which occurrence.
    pub nth: Nth,
    /// Which weekday.
    pub weekday: Weekday,
}

impl MonthlyDay {
    /// Parses `first-sun`, `2nd-tuesday`, `last-fri` (ordinal `first`/`1st` … `fourth`/`4th`
    /// or `last`, a dash, a weekday as `--reboot-days` takes it).
    pub fn parse(item: &str) -> Result<MonthlyDay, String> {
        let err = || {
            format!(
                "unknown monthly day {item:?} (use first|second|third|fourth|last-<weekday>, \
                 e.g. first-sun)"
            )
        };
        let (ordinal, day) = item.split_once('-').ok_or_else(err)?;
        let nth = match ordinal.to_ascii_lowercase().as_str() {
            "first" | "1st" => Nth::First,
            "second" | "2nd" => Nth::Second,
            "third" | "3rd" => Nth::Third,
            "fourth" | "4th" => Nth::Fourth,
            "last" => Nth::Last,
            _ => return Err(err()),
        };
        let weekday = parse_weekday(day).map_err(|e| format!("{}: {e}", err()))?;
        Ok(MonthlyDay { nth, weekday })
    }

    /// Whether `date` is this day of its month.
    pub fn matches(self, date: Date) -> bool {
        if date.weekday() != self.weekday {
            return false;
        }
        let week = (date.day() - 1) / 7;
        match self.nth {
            Nth::First => week == 0,
            Nth::Second => week == 1,
            Nth::Third => week == 2,
            Nth::Fourth => week == 3,
            Nth::Last => date.day() + 7 > date.days_in_month(),
        }
    }
}

impl fmt::Display for MonthlyDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nth = match self.nth {
            Nth::First => "first",
            Nth::Second => "second",
            Nth::Third => "third",
            Nth::Fourth => "fourth",
            Nth::Last => "last",
        };
        let day = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let index = usize::try_from(self.weekday.to_sunday_zero_offset()).unwrap_or(0);
        write!(f, "{nth}-{}", day.get(index).copied().unwrap_or("?"))
    }
}

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
    /// Monthly days the window also opens on (only from `--window`).
    monthly: Vec<MonthlyDay>,
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
            monthly: Vec::new(),
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

    /// This window, also open on `monthly` days.
    #[must_use]
    pub fn with_monthly(mut self, monthly: Vec<MonthlyDay>) -> Window {
        self.monthly = monthly;
        self
    }

    /// The weekdays the window opens on.
    pub fn days(&self) -> Weekdays {
        self.days
    }

    /// The monthly days the window opens on.
    pub fn monthly(&self) -> &[MonthlyDay] {
        &self.monthly
    }

    /// Whether the window opens on this calendar day.
    fn opens_on(&self, date: Date) -> bool {
        self.days.contains(date.weekday()) || self.monthly.iter().any(|m| m.matches(date))
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
        if !self.opens_on(local.date()) {
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
        let horizon = if self.monthly.is_empty() {
            NEXT_OPENING_HORIZON_DAYS
        } else {
            MONTHLY_HORIZON_DAYS
        };
        (0..=horizon)
            .filter_map(|offset| today.checked_add(offset.days()).ok())
            .filter(|day| self.opens_on(*day))
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
/// `SunMonTueWedThuFriSat between 00:00 and 23:59 UTC`; monthly days follow the weekdays
/// (`first-sun between …`, or `---Mon… and first-sun between …`).
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let monthly: Vec<String> = self.monthly.iter().map(ToString::to_string).collect();
        let days = match (self.days.is_empty(), monthly.is_empty()) {
            (_, true) => self.days.to_string(),
            (true, false) => monthly.join(","),
            (false, false) => format!("{} and {}", self.days, monthly.join(",")),
        };
        write!(
            f,
            "{} between {:02}:{:02} and {:02}:{:02} {}",
            days,
            self.start.hour(),
            self.start.minute(),
            self.end.hour(),
            self.end.minute(),
            self.tz_name
        )
    }
}

/// Parses one `--window` value: `DAYS START-END [TIME-ZONE]`, fields separated by spaces.
/// `DAYS` is a comma list of weekdays (as `--reboot-days`: `sat`, `sunday`, `0`), monthly days
/// (`first-sun`, `last-fri`, [`MonthlyDay::parse`]) or `*` for every day; `START` and `END`
/// take `--start-time`'s forms (`02:00`, `2am`); the zone defaults to UTC (`Local` reads
/// `tz_env`, as `--time-zone` does). Example: `sat,sun 01:00-05:00 Europe/Berlin`.
///
/// # Errors
///
/// A message naming the value and the part that is wrong.
pub fn parse_window(spec: &str, tz_env: Option<&str>) -> Result<Window, String> {
    let wrong = |why: String| {
        format!(
            "window {spec:?}: {why} (expected \"DAYS START-END [TIME-ZONE]\", e.g. \"first-sun 01:00-05:00 UTC\")"
        )
    };
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let (days_text, times, tz_name) = match fields.as_slice() {
        [days, times] => (*days, *times, "UTC"),
        [days, times, tz] => (*days, *times, *tz),
        _ => return Err(wrong(format!("{} fields", fields.len()))),
    };
    let mut days = Weekdays::NONE;
    let mut monthly = Vec::new();
    for item in days_text
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        if item == "*" {
            days = Weekdays::ALL;
        } else if item.contains('-') {
            monthly.push(MonthlyDay::parse(item).map_err(wrong)?);
        } else {
            days = days.with(parse_weekday(item).map_err(wrong)?);
        }
    }
    if days.is_empty() && monthly.is_empty() {
        return Err(wrong("no days".to_owned()));
    }
    let (start, end) = times
        .split_once('-')
        .ok_or_else(|| wrong(format!("{times:?} is not START-END")))?;
    let start = parse_time_of_day(start).map_err(wrong)?;
    let end = parse_time_of_day(end).map_err(wrong)?;
    let tz = resolve_time_zone(tz_name, tz_env).map_err(wrong)?;
    Ok(Window::new(days, start, end, tz, tz_name).with_monthly(monthly))
}

/// The windows in force: kured's window (`--reboot-days`, `--start-time`, `--end-time`,
/// `--time-zone`) and every `--window`. A node may start when any of them is open. Given
/// `--window`s, kured's window counts only when its flags narrow it: its default (always open)
/// would otherwise make every `--window` moot.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule(Vec<Window>);

impl Schedule {
    /// The windows in force from kured's window and the `--window`s.
    pub fn new(kured: Window, extra: Vec<Window>) -> Schedule {
        if extra.is_empty() {
            return Schedule(vec![kured]);
        }
        let mut windows = Vec::with_capacity(extra.len() + 1);
        if kured != Window::always() {
            windows.push(kured);
        }
        windows.extend(extra);
        Schedule(windows)
    }

    /// The windows, kured's first when it counts.
    pub fn windows(&self) -> &[Window] {
        &self.0
    }

    /// Whether any window is open at `now`.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.0.iter().any(|w| w.contains(now))
    }

    /// The earliest opening of any window at or after `now` (`None`: none ever opens).
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        self.0.iter().filter_map(|w| w.next_opening(now)).min()
    }
}

/// The windows joined by `; or `: one window prints as kured's start-up line.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&text.join("; or "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
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

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn monthly_days_match_their_week_of_the_month() {
        // November 2026 starts on a Sunday: Sundays are the 1st, 8th, 15th, 22nd and 29th.
        let first = MonthlyDay::parse("first-sun").unwrap();
        assert!(first.matches(date("2026-11-01")));
        assert!(!first.matches(date("2026-11-08")));
        assert!(!first.matches(date("2026-11-02")), "a Monday");
        let fourth = MonthlyDay::parse("4th-Sunday").unwrap();
        assert!(fourth.matches(date("2026-11-22")));
        let last = MonthlyDay::parse("last-sun").unwrap();
        assert!(last.matches(date("2026-11-29")));
        assert!(!last.matches(date("2026-11-22")));
        // February 2026 has 28 days: its last Saturday is the 28th, also its fourth.
        assert!(
            MonthlyDay::parse("last-sat")
                .unwrap()
                .matches(date("2026-02-28"))
        );
        assert!(
            MonthlyDay::parse("fourth-6")
                .unwrap()
                .matches(date("2026-02-28"))
        );
        assert_eq!(last.to_string(), "last-sun");
    }

    #[test]
    fn a_window_flag_parses_days_times_and_zone() {
        let w = parse_window("first-sun,sat 01:00-05:00 Europe/Berlin", None).unwrap();
        assert_eq!(
            w.to_string(),
            "------------------Sat and first-sun between 01:00 and 05:00 Europe/Berlin"
        );
        // 2026-11-01 is the first Sunday; 01:30 in Berlin is 00:30 UTC.
        assert!(w.contains(at("2026-11-01T00:30:00Z")));
        assert!(!w.contains(at("2026-11-08T00:30:00Z")));
        assert!(w.contains(at("2026-11-07T00:30:00Z")), "a Saturday");
        let every = parse_window("* 10pm-2am", None).unwrap();
        assert!(every.wraps_midnight());
        assert_eq!(
            every.to_string(),
            "SunMonTueWedThuFriSat between 22:00 and 02:00 UTC"
        );
    }

    #[test]
    fn a_garbage_window_is_refused_naming_it() {
        for bad in [
            "",
            "sun",
            "sun 01:00",
            "sun 01:00-",
            "sun 1-2-3",
            "fifth-sun 01:00-02:00",
            "first-xyz 01:00-02:00",
            "someday 01:00-02:00",
            ", 01:00-02:00",
            "sun 01:00-02:00 Mars/Olympus",
            "sun 01:00-02:00 UTC extra",
            "sun 25:00-02:00",
        ] {
            let error = parse_window(bad, None).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_next_monthly_opening_is_found_weeks_ahead() {
        let w = parse_window("first-sun 01:00-05:00", None).unwrap();
        // From the fourth Sunday of November to the first Sunday of December (the 6th).
        assert_eq!(
            w.next_opening(at("2026-11-22T03:00:00Z")),
            Some(at("2026-12-06T01:00:00Z"))
        );
        let last = parse_window("last-fri 23:00-01:00", None).unwrap();
        // Judged by calendar day, as kured judges a wrapping window: the last Friday (the
        // 27th) is open from its midnight to 01:00 and from 23:00.
        assert_eq!(
            last.next_opening(at("2026-11-22T03:00:00Z")),
            Some(at("2026-11-27T00:00:00Z"))
        );
        assert_eq!(
            last.next_opening(at("2026-11-27T01:30:00Z")),
            Some(at("2026-11-27T23:00:00Z"))
        );
    }

    #[test]
    fn kureds_default_window_gives_way_to_window_flags_but_a_narrowed_one_adds_to_them() {
        let monthly = parse_window("first-sun 01:00-05:00", None).unwrap();
        let fourth_sunday_3am = at("2026-11-22T03:00:00Z");
        let only = super::Schedule::new(Window::always(), vec![monthly.clone()]);
        assert!(!only.contains(fourth_sunday_3am));
        assert_eq!(only.windows().len(), 1);
        let kured = window("sun", "02:00", "04:00", "UTC");
        let both = super::Schedule::new(kured.clone(), vec![monthly.clone()]);
        assert!(both.contains(fourth_sunday_3am), "kured's window is open");
        assert!(
            both.contains(at("2026-12-06T01:30:00Z")),
            "the monthly one is"
        );
        assert!(!both.contains(at("2026-12-06T05:30:00Z")));
        assert_eq!(
            both.next_opening(at("2026-11-22T05:00:00Z")),
            Some(at("2026-11-29T02:00:00Z"))
        );
        assert_eq!(
            both.to_string(),
            "Sun------------------ between 02:00 and 04:00 UTC; or first-sun between 01:00 and 05:00 UTC"
        );
        let alone = super::Schedule::new(kured.clone(), Vec::new());
        assert_eq!(alone.windows(), [kured]);
        assert_eq!(
            super::Schedule::new(Window::always(), Vec::new()).windows(),
            [Window::always()]
        );
    }

    fn arb_monthly_window() -> impl Strategy<Value = Window> {
        (
            prop::sample::select(vec!["first", "second", "third", "fourth", "last"]),
            prop::sample::select(vec!["sun", "mon", "wed", "sat"]),
            0_i8..24,
            0_i8..24,
            prop::sample::select(vec!["UTC", "Europe/Berlin", "America/Los_Angeles"]),
        )
            .prop_map(|(nth, day, start, end, tz)| {
                parse_window(&format!("{nth}-{day} {start:02}:00-{end:02}:30 {tz}"), None).unwrap()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_next_monthly_opening_is_open_and_nothing_before_it_is(
            w in arb_monthly_window(),
            secs in 1_767_225_600_i64..1_798_761_600,
        ) {
            let now = Timestamp::from_second(secs).unwrap();
            let next = w.next_opening(now);
            prop_assert!(next.is_some(), "a monthly window opens every month");
            let next = next.unwrap();
            prop_assert!(next >= now && w.contains(next));
            let step = SignedDuration::from_mins(15);
            let mut t = now;
            while t + step < next {
                prop_assert!(!w.contains(t), "{t} is open before {next}");
                t += step;
            }
        }
    }
}
