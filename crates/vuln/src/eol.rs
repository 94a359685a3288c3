//! End-of-life dates per OS release, and whether an image's OS is past them at `now`.
//!
//! Built-in table (the last supported day; the release is end-of-life from the next day, UTC,
//! as Trivy's `now.Before(eol 23:59:59 UTC)`):
//! - Debian: `distro-info-data` `debian.csv` (copied from Debian's package 0.58+deb12u6 into
//!   `data/distro-info/`), the `eol-lts` column, else `eol`. Trivy uses roughly the LTS end too
//!   (12 → 2028-06-10 there, 2028-06-30 in distro-info). Testing and sid have no end.
//! - Ubuntu: `ubuntu.csv` from the same package, the `eol` column (standard support; ESM is
//!   not detected).
//! - Alpine: Trivy's table (`pkg/detector/ospkg/alpine/alpine.go`) through 3.18, then
//!   alpinelinux.org release dates; `edge` never ends.
//! - Red Hat: 4–6 dated, 7 and later never (Trivy: "N/A", 3000-01-01). CentOS, AlmaLinux, Rocky
//!   Linux, Oracle Linux, Amazon Linux: Trivy's tables.
//! - Azure Linux / CBL-Mariner, Wolfi, Chainguard, openSUSE Tumbleweed: never (Trivy: "EOL is
//!   not in public"; Tumbleweed is rolling).
//! - SUSE Linux Enterprise, openSUSE Leap, Photon OS, openEuler, Fedora: no table yet, so
//!   unknown (supported, with a warning) unless `eolDates` says otherwise.
//!
//! Which family reads which table is declared in the registry ([`crate::ecosystem`]).
//!
//! A release missing from the table is [`EolStatus::Unknown`] and treated as supported, with a
//! warning (Trivy does the same for Debian, Ubuntu and Alpine; its Red Hat family drivers treat
//! unknown releases as end-of-life, which would delete every image of a new release).
//! Configuration overrides (`eolDates`) take precedence over the table, per release.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ecosystem::EolData;
use crate::{Os, OsFamily};

/// `distro-info-data` 0.58+deb12u6 `debian.csv`
/// (`version,codename,series,created,release,eol,eol-lts,eol-elts`).
pub(crate) const DEBIAN_CSV: &str = include_str!("../data/distro-info/debian.csv");
/// `distro-info-data` 0.58+deb12u6 `ubuntu.csv`
/// (`version,codename,series,created,release,eol,eol-server,eol-esm,eol-legacy`).
pub(crate) const UBUNTU_CSV: &str = include_str!("../data/distro-info/ubuntu.csv");
/// `debian.csv` column `eol-lts`.
pub(crate) const DEBIAN_EOL_LTS: usize = 6;
/// `debian.csv` column `eol`.
pub(crate) const DEBIAN_EOL: usize = 5;
/// `ubuntu.csv` column `eol` (standard support).
pub(crate) const UBUNTU_EOL: usize = 5;

/// Alpine: Trivy `alpine.go` `eolDates` through 3.18; 3.19–3.23 from alpinelinux.org
/// (3.20–3.23 also in Trivy at HEAD, per the reference).
pub(crate) const ALPINE: &[(&str, &str)] = &[
    ("2.0", "2012-04-01"),
    ("2.1", "2012-11-01"),
    ("2.2", "2013-05-01"),
    ("2.3", "2013-11-01"),
    ("2.4", "2014-05-01"),
    ("2.5", "2014-11-01"),
    ("2.6", "2015-05-01"),
    ("2.7", "2015-11-01"),
    ("3.0", "2016-05-01"),
    ("3.1", "2016-11-01"),
    ("3.2", "2017-05-01"),
    ("3.3", "2017-11-01"),
    ("3.4", "2018-05-01"),
    ("3.5", "2018-11-01"),
    ("3.6", "2019-05-01"),
    ("3.7", "2019-11-01"),
    ("3.8", "2020-05-01"),
    ("3.9", "2020-11-01"),
    ("3.10", "2021-05-01"),
    ("3.11", "2021-11-01"),
    ("3.12", "2022-05-01"),
    ("3.13", "2022-11-01"),
    ("3.14", "2023-05-01"),
    ("3.15", "2023-11-01"),
    ("3.16", "2024-05-23"),
    ("3.17", "2024-11-22"),
    ("3.18", "2025-05-09"),
    ("3.19", "2025-11-01"),
    ("3.20", "2026-04-01"),
    ("3.21", "2026-12-05"),
    ("3.22", "2027-04-30"),
    ("3.23", "2027-11-01"),
];

/// Red Hat Enterprise Linux (Trivy `redhat.go` `redhatEOLDates`); 7 and later: never.
pub(crate) const RHEL: &[(&str, &str)] = &[
    ("4", "2017-05-31"),
    ("5", "2020-11-30"),
    ("6", "2024-06-30"),
];
/// RHEL majors Trivy marks "N/A" (never end-of-life).
pub(crate) const RHEL_NEVER: &[&str] = &["7", "8", "9", "10"];
/// CentOS (Trivy `redhat.go` `centosEOLDates`).
pub(crate) const CENTOS: &[(&str, &str)] = &[
    ("3", "2010-10-31"),
    ("4", "2012-02-29"),
    ("5", "2017-03-31"),
    ("6", "2020-11-30"),
    ("7", "2024-06-30"),
    ("8", "2021-12-31"),
];
/// AlmaLinux (Trivy `alma.go`, from endoflife.date).
pub(crate) const ALMA: &[(&str, &str)] = &[("8", "2029-03-01"), ("9", "2032-05-31")];
/// Rocky Linux (Trivy `rocky.go`, from endoflife.date).
pub(crate) const ROCKY: &[(&str, &str)] = &[("8", "2029-05-31"), ("9", "2032-05-31")];
/// Oracle Linux (Trivy `oracle.go`, from Oracle's lifetime support policy).
pub(crate) const ORACLE: &[(&str, &str)] = &[
    ("3", "2011-12-31"),
    ("4", "2013-12-31"),
    ("5", "2017-12-31"),
    ("6", "2021-03-21"),
    ("7", "2024-07-23"),
    ("8", "2029-07-18"),
];
/// Amazon Linux (Trivy `amazon.go` at HEAD, per the reference).
pub(crate) const AMAZON: &[(&str, &str)] = &[
    ("1", "2023-12-31"),
    ("2", "2026-06-30"),
    ("2023", "2028-03-15"),
];

/// The end of a release's support: its last supported day, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EolDate {
    /// Supported through this day (UTC), end-of-life from the next.
    On(Date),
    /// Never end-of-life (rolling releases, RHEL 7+, Azure Linux).
    Never,
}

/// Overrides from configuration: family (as [`OsFamily`] displays it: `debian`, `alpine`,
/// `redhat`, ...) → release (`12`, `3.18`, `22.04`) → date.
pub type EolOverrides = BTreeMap<String, BTreeMap<String, EolDate>>;

/// Whether an OS release is supported at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum EolStatus {
    /// Supported; `until` is the last supported day, `None` when support never ends.
    Supported {
        /// The last supported day.
        until: Option<Date>,
    },
    /// Past its end of life.
    EndOfLife {
        /// The last supported day.
        since: Date,
    },
    /// Not in the table: treated as supported.
    Unknown,
}

// === impl EolStatus ===

impl EolStatus {
    /// Whether the release is past its end of life.
    pub fn is_eol(&self) -> bool {
        matches!(self, Self::EndOfLife { .. })
    }
}

// === impl EolDate ===

impl FromStr for EolDate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("never") {
            return Ok(Self::Never);
        }
        text.parse::<Date>()
            .map(Self::On)
            .map_err(|e| format!("expected a date YYYY-MM-DD or \"never\", got {text:?} ({e})"))
    }
}

impl fmt::Display for EolDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::On(date) => date.fmt(f),
            Self::Never => f.write_str("never"),
        }
    }
}

impl Serialize for EolDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EolDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The built-in table: (family, release) → date.
#[derive(Debug, Clone, Default)]
pub struct EolTable {
    entries: HashMap<(String, String), EolDate>,
}

static BUILTIN: LazyLock<EolTable> = LazyLock::new(EolTable::load_builtin);

// === impl EolTable ===

impl EolTable {
    /// The built-in table (parsed once).
    pub fn builtin() -> &'static Self {
        &BUILTIN
    }

    /// The entry for `family` / `release`, if any.
    pub fn get(&self, family: OsFamily, release: &str) -> Option<EolDate> {
        self.entries
            .get(&(family.to_string(), release.to_owned()))
            .copied()
    }

    /// The table the registry's families declare ([`crate::ecosystem::EolData`]).
    fn load_builtin() -> Self {
        let mut table = Self::default();
        for spec in crate::ecosystem::OS_FAMILIES {
            match spec.eol {
                EolData::DistroInfo { csv, columns } => {
                    for row in csv_rows(csv) {
                        // The first column with a date; testing and sid have none and never end.
                        let date = columns
                            .iter()
                            .find_map(|column| field_date(&row, *column))
                            .map_or(EolDate::Never, EolDate::On);
                        table.insert_release(spec.family, &row, date);
                    }
                }
                EolData::Dates { dates, never } => {
                    for (release, date) in dates {
                        if let Ok(date) = date.parse::<Date>() {
                            table.insert(spec.family, release, EolDate::On(date));
                        }
                    }
                    for release in never {
                        table.insert(spec.family, release, EolDate::Never);
                    }
                }
                EolData::Never | EolData::Unknown => {}
            }
        }
        table
    }

    fn insert(&mut self, family: OsFamily, release: &str, date: EolDate) {
        self.entries
            .insert((family.to_string(), release.to_owned()), date);
    }

    /// A distro-info row, keyed by its version number (`12`, `22.04` without ` LTS`) and its
    /// series (`bookworm`, `sid`).
    fn insert_release(&mut self, family: OsFamily, row: &[&str], date: EolDate) {
        if let Some(version) = row
            .first()
            .map(|v| v.trim_end_matches(" LTS").trim())
            .filter(|v| !v.is_empty())
        {
            self.insert(family, version, date);
        }
        if let Some(series) = row.get(2).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            self.insert(family, series, date);
        }
    }
}

/// Whether `os` is past its end of life at `now`: `overrides` first, then the built-in table.
/// A release found in neither is [`EolStatus::Unknown`] (logged as a warning).
pub fn status(os: &Os, now: Timestamp, overrides: &EolOverrides) -> EolStatus {
    let family = os.family.to_string();
    let date = overrides
        .get(&family)
        .and_then(|releases| releases.get(&os.release))
        .copied()
        .or_else(|| EolTable::builtin().get(os.family, &os.release))
        .or_else(|| matches!(os.spec().eol, EolData::Never).then_some(EolDate::Never));
    match date {
        Some(EolDate::Never) => EolStatus::Supported { until: None },
        Some(EolDate::On(last)) => {
            let today = now.to_zoned(TimeZone::UTC).date();
            if today > last {
                EolStatus::EndOfLife { since: last }
            } else {
                EolStatus::Supported { until: Some(last) }
            }
        }
        None => {
            tracing::warn!(
                family = %os.family,
                release = %os.release,
                "OS release not in the end-of-life table; treated as supported"
            );
            EolStatus::Unknown
        }
    }
}

/// Data rows of a distro-info CSV (header skipped), split on commas.
fn csv_rows(csv: &str) -> impl Iterator<Item = Vec<&str>> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split(',').collect())
}

fn field_date(row: &[&str], index: usize) -> Option<Date> {
    row.get(index)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(family: OsFamily, release: &str) -> Os {
        Os::new(family, release)
    }

    fn at(date: &str) -> Timestamp {
        format!("{date}T12:00:00Z").parse().unwrap()
    }

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn debian_uses_the_distro_info_lts_end() {
        let table = EolTable::builtin();
        assert_eq!(
            table.get(OsFamily::Debian, "12"),
            Some(EolDate::On(date("2028-06-30")))
        );
        assert_eq!(
            table.get(OsFamily::Debian, "bookworm"),
            table.get(OsFamily::Debian, "12")
        );
        assert_eq!(table.get(OsFamily::Debian, "sid"), Some(EolDate::Never));
    }

    #[test]
    fn ubuntu_lts_versions_are_keyed_without_the_lts_suffix() {
        assert_eq!(
            EolTable::builtin().get(OsFamily::Ubuntu, "22.04"),
            Some(EolDate::On(date("2027-06-01")))
        );
    }

    #[test]
    fn release_is_supported_through_its_last_day_and_eol_the_day_after() {
        let debian10 = os(OsFamily::Debian, "10");
        let none = EolOverrides::new();
        assert_eq!(
            status(&debian10, at("2024-06-30"), &none),
            EolStatus::Supported {
                until: Some(date("2024-06-30"))
            }
        );
        assert_eq!(
            status(&debian10, at("2024-07-01"), &none),
            EolStatus::EndOfLife {
                since: date("2024-06-30")
            }
        );
    }

    #[test]
    fn rhel_7_and_later_never_end_but_centos_8_has_ended() {
        let none = EolOverrides::new();
        let now = at("2026-11-22");
        assert_eq!(
            status(&os(OsFamily::Rhel, "9"), now, &none),
            EolStatus::Supported { until: None }
        );
        assert!(status(&os(OsFamily::CentOs, "8"), now, &none).is_eol());
        assert!(status(&os(OsFamily::Alpine, "3.18"), now, &none).is_eol());
        assert!(!status(&os(OsFamily::Amazon, "2023"), now, &none).is_eol());
    }

    #[test]
    fn azure_linux_and_rolling_distributions_are_always_supported() {
        let none = EolOverrides::new();
        for family in [OsFamily::AzureLinux, OsFamily::CblMariner, OsFamily::Wolfi] {
            assert_eq!(
                status(&os(family, "3.0"), at("2999-01-01"), &none),
                EolStatus::Supported { until: None }
            );
        }
    }

    #[test]
    fn unknown_release_is_treated_as_supported() {
        let status = status(
            &os(OsFamily::Alpine, "3.99"),
            at("2026-11-22"),
            &EolOverrides::new(),
        );
        assert_eq!(status, EolStatus::Unknown);
        assert!(!status.is_eol());
    }

    #[test]
    fn overrides_win_over_the_table_and_add_releases() {
        let mut overrides = EolOverrides::new();
        overrides
            .entry("debian".into())
            .or_default()
            .insert("12".into(), "2020-01-01".parse().unwrap());
        overrides
            .entry("alpine".into())
            .or_default()
            .insert("3.99".into(), EolDate::Never);
        let now = at("2026-11-22");
        assert!(status(&os(OsFamily::Debian, "12"), now, &overrides).is_eol());
        assert_eq!(
            status(&os(OsFamily::Alpine, "3.99"), now, &overrides),
            EolStatus::Supported { until: None }
        );
    }

    #[test]
    fn eol_dates_parse_from_dates_and_never_and_reject_garbage() {
        assert_eq!("never".parse::<EolDate>(), Ok(EolDate::Never));
        assert_eq!(
            "2028-06-30".parse::<EolDate>(),
            Ok(EolDate::On(date("2028-06-30")))
        );
        assert!("next year".parse::<EolDate>().is_err());
    }
}
