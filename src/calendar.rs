//! The clinic calendar: where a day, week, month or year begins for a clinic.
//!
//! Every rule in this crate that depends on a calendar boundary (points expiring at the end of
//! the month, a retention cohort per week, "visits in the last 30 days") takes a
//! [`ClinicCalendar`]. Instants are always [`chrono::DateTime<Utc>`]; the calendar turns them
//! into local dates and back. Chinese clinics run on UTC+8 with no daylight saving, so the
//! calendar is a fixed offset: that keeps every conversion total and fast (no ambiguous or
//! missing local times), which is what PostHog #17415 (UTC+8 retention shown a day late) got
//! wrong by bucketing in UTC.
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use clinic_ops::calendar::{ClinicCalendar, Period};
//!
//! let cal = ClinicCalendar::default(); // UTC+8, weeks start on Monday
//! // 2026-01-31 17:30 UTC is already 1 February in Beijing.
//! let t = Utc.with_ymd_and_hms(2026, 1, 31, 17, 30, 0).unwrap();
//! assert_eq!(cal.local_date(t), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
//! assert_eq!(cal.bucket(t, Period::Month), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
//! ```
//!
//! # The accepted range
//!
//! Chrono represents dates some 262,000 years either side of the epoch; a clinic needs a few
//! centuries. Every value that enters the crate from outside (a `parse`, a constructor, a
//! `Deserialize` impl, the `now` of a decision) is checked against one range,
//! [`EARLIEST_DATE`]`..=`[`LATEST_DATE`] for dates and
//! [`EARLIEST_INSTANT`]`..=`[`LATEST_INSTANT`] for instants, with [`check_date`] and
//! [`check_instant`], or with the serde helpers in [`in_range`]. A value outside it is refused
//! with [`CalendarError::DateOutOfRange`], so the arithmetic downstream (a week start, an expiry
//! N days later, a birthday) never reaches chrono's limits. The calendar's own methods are
//! also total for every chrono value, as a safety net: they saturate at chrono's limits (see
//! each method).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Seconds in one day; the calendar has no daylight saving, so every local day has this many.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// The largest offset a clinic calendar accepts, in seconds (±14:00, the widest in use).
const MAX_OFFSET_SECONDS: i32 = 14 * 3600;

/// Builds a date in a constant; a wrong literal fails the build, never a run.
const fn const_date(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("invalid date literal"),
    }
}

/// The earliest date the crate accepts (inclusive): 1 January 1900.
///
/// Old enough for any living patient's birth date and any record a clinic keeps.
pub const EARLIEST_DATE: NaiveDate = const_date(1900, 1, 1);

/// The latest date the crate accepts (inclusive): 31 December 2200.
///
/// Far enough for any expiry, lock or plan horizon a clinic sets.
pub const LATEST_DATE: NaiveDate = const_date(2200, 12, 31);

/// The earliest instant the crate accepts (inclusive): 1900-01-02T00:00:00Z.
///
/// The instant bounds are whole UTC days, one day inside the date bounds at each end, so that
/// the local date of an accepted instant in any calendar [`ClinicCalendar`] accepts (offsets up
/// to ±14:00) is an accepted date: a `today` derived from an accepted `now` passes
/// [`check_date`].
pub const EARLIEST_INSTANT: DateTime<Utc> =
    DateTime::from_naive_utc_and_offset(const_date(1900, 1, 2).and_time(NaiveTime::MIN), Utc);

/// The latest instant the crate accepts (inclusive): 2200-12-30T23:59:59.999999999Z, the last
/// nanosecond of the day before [`LATEST_DATE`] in UTC (see [`EARLIEST_INSTANT`] for why).
///
/// A leap second chrono may represent within that last second sorts after this bound and is
/// refused.
pub const LATEST_INSTANT: DateTime<Utc> = DateTime::from_naive_utc_and_offset(
    const_date(2200, 12, 30).and_time(
        match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
            Some(t) => t,
            None => panic!("invalid time literal"),
        },
    ),
    Utc,
);

/// Checks that an instant lies in [`EARLIEST_INSTANT`]`..=`[`LATEST_INSTANT`].
///
/// `field` names the value in the error (`"now"`, `"at"`, `"expires"`…).
///
/// # Errors
///
/// [`CalendarError::DateOutOfRange`] naming `field` and the instant (RFC 3339, UTC).
pub fn check_instant(
    field: &'static str,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, CalendarError> {
    if (EARLIEST_INSTANT..=LATEST_INSTANT).contains(&at) {
        Ok(at)
    } else {
        Err(CalendarError::DateOutOfRange {
            field,
            value: at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        })
    }
}

/// Checks that a date lies in [`EARLIEST_DATE`]`..=`[`LATEST_DATE`].
///
/// `field` names the value in the error (`"today"`, `"birth_date"`…).
///
/// # Errors
///
/// [`CalendarError::DateOutOfRange`] naming `field` and the date (ISO 8601).
pub fn check_date(field: &'static str, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    if (EARLIEST_DATE..=LATEST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(CalendarError::DateOutOfRange {
            field,
            value: date.to_string(),
        })
    }
}

/// Serde helpers that refuse instants and dates outside the crate's accepted range.
///
/// Use them on every field a host loads from outside, with `#[serde(with = "...")]`. They
/// serialise exactly as chrono does, so the stored form of an in-range value does not change;
/// they only add the range check on the way in, with an error that names the value:
///
/// ```
/// use chrono::{DateTime, Utc};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Visit {
///     #[serde(with = "clinic_ops::calendar::in_range::instant")]
///     at: DateTime<Utc>,
/// }
///
/// let err = serde_json::from_str::<Visit>(r#"{"at":"+262142-12-31T23:59:59Z"}"#)
///     .err()
///     .map(|e| e.to_string())
///     .unwrap_or_default();
/// assert!(err.contains("+262142-12-31T23:59:59Z"), "{err}");
/// ```
pub mod in_range {
    use super::{check_date, check_instant};
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

    /// A required instant: `DateTime<Utc>` in RFC 3339, checked with [`check_instant`].
    pub mod instant {
        use super::*;

        /// Serialises as chrono does.
        ///
        /// # Errors
        ///
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
            at.serialize(s)
        }

        /// Deserialises as chrono does, then refuses an instant out of range.
        ///
        /// # Errors
        ///
        /// Chrono's, or an out-of-range error naming the instant.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
            check_instant("instant", DateTime::<Utc>::deserialize(d)?).map_err(D::Error::custom)
        }
    }

    /// An optional instant, checked when present.
    pub mod option_instant {
        use super::*;

        /// Serialises as chrono does (`null` for `None`).
        ///
        /// # Errors
        ///
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            at.serialize(s)
        }

        /// Deserialises as chrono does, then refuses an instant out of range.
        ///
        /// # Errors
        ///
        /// Chrono's, or an out-of-range error naming the instant.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)?
                .map(|at| check_instant("instant", at))
                .transpose()
                .map_err(D::Error::custom)
        }
    }

    /// A required date: `NaiveDate` as `YYYY-MM-DD`, checked with [`check_date`].
    pub mod date {
        use super::*;

        /// Serialises as chrono does.
        ///
        /// # Errors
        ///
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
            date.serialize(s)
        }

        /// Deserialises as chrono does, then refuses a date out of range.
        ///
        /// # Errors
        ///
        /// Chrono's, or an out-of-range error naming the date.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
            check_date("date", NaiveDate::deserialize(d)?).map_err(D::Error::custom)
        }
    }

    /// An optional date, checked when present.
    pub mod option_date {
        use super::*;

        /// Serialises as chrono does (`null` for `None`).
        ///
        /// # Errors
        ///
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(date: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
            date.serialize(s)
        }

        /// Deserialises as chrono does, then refuses a date out of range.
        ///
        /// # Errors
        ///
        /// Chrono's, or an out-of-range error naming the date.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            Option::<NaiveDate>::deserialize(d)?
                .map(|date| check_date("date", date))
                .transpose()
                .map_err(D::Error::custom)
        }
    }

    /// A list of dates, each checked.
    pub mod vec_date {
        use super::*;

        /// Serialises as chrono does.
        ///
        /// # Errors
        ///
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(dates: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
            dates.serialize(s)
        }

        /// Deserialises as chrono does, then refuses the list if any date is out of range.
        ///
        /// # Errors
        ///
        /// Chrono's, or an out-of-range error naming the first such date.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
            let dates = Vec::<NaiveDate>::deserialize(d)?;
            for &date in &dates {
                check_date("date", date).map_err(D::Error::custom)?;
            }
            Ok(dates)
        }
    }
}

/// A calendar bucket size used by the metrics and the campaign caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Period {
    /// One local calendar day.
    Day,
    /// One local week, starting on Monday.
    Week,
    /// One local calendar month.
    Month,
    /// One local calendar year.
    Year,
}

/// Errors from building a [`ClinicCalendar`] or parsing its offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// The offset text is not of the form `+HH:MM` or `-HH:MM`.
    #[error("calendar offset {value:?} is not of the form +HH:MM")]
    Malformed {
        /// The text that was given.
        value: String,
    },
    /// The offset is beyond ±14:00.
    #[error("calendar offset of {seconds} s is beyond ±14:00")]
    OutOfRange {
        /// The offset in seconds east of UTC.
        seconds: i32,
    },
    /// A date or instant lies outside the crate's accepted range,
    /// [`EARLIEST_DATE`]`..=`[`LATEST_DATE`] (instants: [`EARLIEST_INSTANT`]`..=`[`LATEST_INSTANT`]).
    #[error(
        "{field} {value} is outside the accepted range {} to {}",
        EARLIEST_DATE,
        LATEST_DATE
    )]
    DateOutOfRange {
        /// The field or argument that held the value (`"now"`, `"birth_date"`…).
        field: &'static str,
        /// The value, as ISO 8601 (a date) or RFC 3339 in UTC (an instant).
        value: String,
    },
}

/// A clinic's calendar: a fixed UTC offset (UTC+8 by default) with weeks starting on Monday.
///
/// Use it wherever a rule needs "today", "this month" or "N days later" for a clinic. Use a
/// plain [`DateTime<Utc>`] for instants: the calendar never stores them, it only interprets
/// them. It is `Copy`, so pass it by value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClinicCalendar {
    offset_seconds: i32,
}

impl Default for ClinicCalendar {
    /// China Standard Time, UTC+8.
    fn default() -> Self {
        Self::CHINA
    }
}

impl fmt::Debug for ClinicCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinicCalendar({self})")
    }
}

impl fmt::Display for ClinicCalendar {
    /// Formats the offset as `+08:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.offset_seconds;
        let sign = if s < 0 { '-' } else { '+' };
        let a = s.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    }
}

impl From<ClinicCalendar> for String {
    fn from(c: ClinicCalendar) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for ClinicCalendar {
    type Error = CalendarError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl std::str::FromStr for ClinicCalendar {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ClinicCalendar {
    /// China Standard Time, UTC+8: the default for every clinic.
    pub const CHINA: ClinicCalendar = ClinicCalendar {
        offset_seconds: 8 * 3600,
    };

    /// UTC itself, useful in tests and for warehouses that bucket in UTC.
    pub const UTC: ClinicCalendar = ClinicCalendar { offset_seconds: 0 };

    /// A calendar at a fixed offset east of UTC, in seconds.
    ///
    /// # Errors
    ///
    /// [`CalendarError::OutOfRange`] beyond ±14:00.
    pub fn from_offset_seconds(seconds: i32) -> Result<Self, CalendarError> {
        if !(-MAX_OFFSET_SECONDS..=MAX_OFFSET_SECONDS).contains(&seconds) {
            return Err(CalendarError::OutOfRange { seconds });
        }
        Ok(Self {
            offset_seconds: seconds,
        })
    }

    /// Parses `+08:00`, `-05:30`, `+0800` or `Z`.
    ///
    /// # Errors
    ///
    /// [`CalendarError::Malformed`] for other text, [`CalendarError::OutOfRange`] beyond ±14:00.
    pub fn parse(s: &str) -> Result<Self, CalendarError> {
        let malformed = || CalendarError::Malformed {
            value: s.to_owned(),
        };
        let t = s.trim();
        if t == "Z" || t == "z" {
            return Ok(Self::UTC);
        }
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(malformed()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
            return Err(malformed());
        }
        let hh: i32 = digits[..2].parse().map_err(|_| malformed())?;
        let mm: i32 = digits[2..].parse().map_err(|_| malformed())?;
        if mm >= 60 {
            return Err(malformed());
        }
        Self::from_offset_seconds(sign * (hh * 3600 + mm * 60))
    }

    /// The offset east of UTC, in seconds.
    #[must_use]
    pub fn offset_seconds(self) -> i32 {
        self.offset_seconds
    }

    fn offset(self) -> FixedOffset {
        // The constructor bounds the offset to ±14:00, which chrono always accepts; the
        // fallback is never taken.
        FixedOffset::east_opt(self.offset_seconds).unwrap_or(Utc.fix())
    }

    /// The local wall-clock date and time of an instant.
    ///
    /// Saturates: an instant within a day of chrono's limits whose local reading would fall
    /// outside chrono's range reads as [`NaiveDateTime::MAX`] (east of UTC) or
    /// [`NaiveDateTime::MIN`] (west of UTC). No accepted instant comes near this (see
    /// [`check_instant`]); the rule only keeps the calendar total.
    #[must_use]
    pub fn local_datetime(self, at: DateTime<Utc>) -> NaiveDateTime {
        let offset = self.offset();
        match at.naive_utc().checked_add_offset(offset) {
            Some(local) => local,
            None if self.offset_seconds > 0 => NaiveDateTime::MAX,
            None => NaiveDateTime::MIN,
        }
    }

    /// The local date of an instant.
    ///
    /// Saturates at [`NaiveDate::MAX`] / [`NaiveDate::MIN`] as [`Self::local_datetime`] does.
    #[must_use]
    pub fn local_date(self, at: DateTime<Utc>) -> NaiveDate {
        self.local_datetime(at).date()
    }

    /// The local wall-clock time of an instant.
    ///
    /// Saturates as [`Self::local_datetime`] does: the last nanosecond of the day past
    /// chrono's maximum, midnight before its minimum.
    #[must_use]
    pub fn local_time(self, at: DateTime<Utc>) -> NaiveTime {
        self.local_datetime(at).time()
    }

    /// The instant at which a local date begins (00:00 local time).
    ///
    /// Saturates at [`DateTime::<Utc>::MIN_UTC`] when that instant is before chrono's range
    /// (midnight of [`NaiveDate::MIN`] east of UTC); west of UTC, midnight is always within it.
    #[must_use]
    pub fn start_of(self, date: NaiveDate) -> DateTime<Utc> {
        let naive = date.and_time(NaiveTime::MIN);
        match naive.checked_sub_offset(self.offset()) {
            Some(utc) => Utc.from_utc_datetime(&utc),
            None if self.offset_seconds > 0 => DateTime::<Utc>::MIN_UTC,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// The instant at which the local day containing `at` begins.
    #[must_use]
    pub fn start_of_day(self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.start_of(self.local_date(at))
    }

    /// The first local date of the period that contains `date`.
    ///
    /// Saturates at [`NaiveDate::MIN`]: chrono's first date is a Wednesday, so the week that
    /// contains it starts before chrono's range.
    #[must_use]
    pub fn period_start(self, date: NaiveDate, period: Period) -> NaiveDate {
        match period {
            Period::Day => date,
            Period::Week => sub_days(date, u64::from(date.weekday().num_days_from_monday())),
            Period::Month => date.with_day(1).unwrap_or(date),
            Period::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date),
        }
    }

    /// The first local date of the period after the one that contains `date`.
    ///
    /// Saturates at the last date chrono represents.
    #[must_use]
    pub fn next_period_start(self, date: NaiveDate, period: Period) -> NaiveDate {
        let start = self.period_start(date, period);
        let next = match period {
            Period::Day => start.succ_opt(),
            Period::Week => start.checked_add_signed(Duration::days(7)),
            Period::Month => start.checked_add_months(chrono::Months::new(1)),
            Period::Year => start.checked_add_months(chrono::Months::new(12)),
        };
        next.unwrap_or(NaiveDate::MAX)
    }

    /// The first local date of the period containing the instant `at`: the bucket label that
    /// retention cohorts and usage caps use.
    #[must_use]
    pub fn bucket(self, at: DateTime<Utc>, period: Period) -> NaiveDate {
        self.period_start(self.local_date(at), period)
    }

    /// The instant the period containing `at` begins.
    #[must_use]
    pub fn start_of_period(self, at: DateTime<Utc>, period: Period) -> DateTime<Utc> {
        self.start_of(self.bucket(at, period))
    }

    /// The instant the period after the one containing `at` begins: the end (exclusive) of
    /// `at`'s day, week, month or year.
    ///
    /// Saturates: when the next period would begin after chrono's last date, the result is
    /// the start of [`NaiveDate::MAX`] (which can then be earlier than `at`).
    ///
    /// Open Loyalty's examples: month-end points earned on 22 January expire at 00:00 on
    /// 1 February; year-end points earned in 2018 expire at 00:00 on 1 January 2019.
    #[must_use]
    pub fn end_of_period(self, at: DateTime<Utc>, period: Period) -> DateTime<Utc> {
        self.start_of(self.next_period_start(self.local_date(at), period))
    }

    /// The instant 00:00 local time, `days` local days after the local date of `at`.
    ///
    /// This is the rule for "expires N days after earning": points earned at any time on
    /// 3 March with N = 30 expire at 00:00 on 2 April, local time. Saturates at the ends of
    /// chrono's range.
    #[must_use]
    pub fn midnight_after_days(self, at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let date = self.local_date(at);
        self.start_of(add_days(date, u64::from(days)))
    }

    /// The number of whole local days from the local date of `from` to that of `to`
    /// (negative when `to` is earlier). Used for "days since the last visit".
    #[must_use]
    pub fn days_between(self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        (self.local_date(to) - self.local_date(from)).num_days()
    }

    /// The local day number of a Unix timestamp: days since 1970-01-01 local time.
    ///
    /// The hot loops in `metrics` bucket millions of events by integer arithmetic instead of
    /// building dates; this is the single definition they share.
    #[must_use]
    pub fn local_day_number(self, unix_seconds: i64) -> i64 {
        unix_seconds
            .saturating_add(i64::from(self.offset_seconds))
            .div_euclid(SECONDS_PER_DAY)
    }

    /// The local date of a Unix timestamp, saturating outside chrono's range.
    #[must_use]
    pub fn local_date_of_unix(self, unix_seconds: i64) -> NaiveDate {
        date_of_day_number(self.local_day_number(unix_seconds))
    }
}

/// The number of days from 1970-01-01 to `date` (negative before it).
#[must_use]
pub fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - 719_163
}

// Day arithmetic on civil dates, written once. Each saturates at the end of chrono's range
// it moves towards ([`NaiveDate::MIN`], [`NaiveDate::MAX`]) rather than failing: callers
// compute due dates and bounds from stored values, where an out-of-range result means
// "never" or "always", and a panic or an error would be worse. Checked entry points refuse
// dates outside `EARLIEST_DATE..=LATEST_DATE` before any of this runs, so in practice the
// results stay far from the ends.

/// `date` plus `days` days, saturating at [`NaiveDate::MAX`].
pub fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(chrono::Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// `date` minus `days` days, saturating at [`NaiveDate::MIN`].
pub fn sub_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(chrono::Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// `date` moved by `days` days (back when negative), saturating at [`NaiveDate::MIN`] or
/// [`NaiveDate::MAX`], whichever it moves towards.
pub fn shift_days(date: NaiveDate, days: i64) -> NaiveDate {
    if days >= 0 {
        add_days(date, days.unsigned_abs())
    } else {
        sub_days(date, days.unsigned_abs())
    }
}

/// The date of a day number (days since 1970-01-01, the inverse of [`day_number`]),
/// saturating at [`NaiveDate::MIN`] or [`NaiveDate::MAX`].
pub fn date_of_day_number(day: i64) -> NaiveDate {
    shift_days(const_date(1970, 1, 1), day)
}

/// Days from 1970-01-01 to day `d` of month `m` (1..=12) of year `y` (proleptic Gregorian;
/// Howard Hinnant's `days_from_civil`): integer arithmetic for hot loops that bucket
/// millions of day numbers without building dates. Exact for any year whose day count fits
/// an `i64` (far beyond chrono's range).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12) of a day number since 1970-01-01 (Hinnant's `civil_from_days`), the
/// inverse of [`days_from_civil`] for the first of a month.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).single().unwrap()
    }
    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn day_arithmetic_saturates_at_the_end_it_moves_towards() {
        let d = date(2026, 2, 27);
        assert_eq!(add_days(d, 2), date(2026, 3, 1));
        assert_eq!(sub_days(d, 58), date(2025, 12, 31));
        assert_eq!(shift_days(d, -58), date(2025, 12, 31));
        assert_eq!(shift_days(d, 0), d);
        assert_eq!(add_days(NaiveDate::MAX, 1), NaiveDate::MAX);
        assert_eq!(add_days(d, u64::MAX), NaiveDate::MAX);
        assert_eq!(sub_days(NaiveDate::MIN, 1), NaiveDate::MIN);
        assert_eq!(sub_days(d, u64::MAX), NaiveDate::MIN);
        assert_eq!(shift_days(d, i64::MIN), NaiveDate::MIN);
        assert_eq!(shift_days(d, i64::MAX), NaiveDate::MAX);
    }

    #[test]
    fn day_numbers_round_trip_and_saturate() {
        for d in [
            date(1970, 1, 1),
            date(1969, 12, 31),
            date(2000, 2, 29),
            date(2200, 12, 31),
            date(1900, 1, 1),
            NaiveDate::MIN,
            NaiveDate::MAX,
        ] {
            assert_eq!(date_of_day_number(day_number(d)), d, "{d}");
        }
        assert_eq!(date_of_day_number(i64::MAX), NaiveDate::MAX);
        assert_eq!(date_of_day_number(i64::MIN), NaiveDate::MIN);
    }

    #[test]
    fn hinnant_agrees_with_chrono() {
        for d in [
            date(1970, 1, 1),
            date(1969, 12, 1),
            date(2000, 2, 1),
            date(2100, 3, 1),
            date(1900, 1, 1),
            date(2200, 12, 1),
        ] {
            let n = day_number(d);
            let (y, m) = (i64::from(d.year()), i64::from(d.month()));
            assert_eq!(days_from_civil(y, m, 1), n, "{d}");
            assert_eq!(civil_from_days(n), (y, m), "{d}");
            assert_eq!(civil_from_days(n + 27), (y, m), "{d}");
        }
    }

    #[test]
    fn utc8_day_starts_at_16_utc() {
        let cal = ClinicCalendar::default();
        assert_eq!(cal.local_date(utc(2026, 3, 1, 15, 59)), date(2026, 3, 1));
        assert_eq!(cal.local_date(utc(2026, 3, 1, 16, 0)), date(2026, 3, 2));
        assert_eq!(cal.start_of(date(2026, 3, 2)), utc(2026, 3, 1, 16, 0));
    }

    #[test]
    fn open_loyalty_month_and_year_end() {
        let cal = ClinicCalendar::default();
        let jan22 = cal.start_of(date(2026, 1, 22)) + Duration::hours(15);
        assert_eq!(
            cal.end_of_period(jan22, Period::Month),
            cal.start_of(date(2026, 2, 1))
        );
        let in_2018 = cal.start_of(date(2018, 7, 9));
        assert_eq!(
            cal.end_of_period(in_2018, Period::Year),
            cal.start_of(date(2019, 1, 1))
        );
        // Last instant of December stays in that year.
        let last = cal.start_of(date(2019, 1, 1)) - Duration::seconds(1);
        assert_eq!(
            cal.end_of_period(last, Period::Year),
            cal.start_of(date(2019, 1, 1))
        );
    }

    #[test]
    fn weeks_start_monday() {
        let cal = ClinicCalendar::default();
        // 2026-11-23 is a Monday; 2026-11-29 a Sunday.
        assert_eq!(
            cal.period_start(date(2026, 11, 29), Period::Week),
            date(2026, 11, 23)
        );
        assert_eq!(
            cal.period_start(date(2026, 11, 23), Period::Week),
            date(2026, 11, 23)
        );
        assert_eq!(
            cal.next_period_start(date(2026, 11, 29), Period::Week),
            date(2026, 11, 30)
        );
        assert_eq!(
            cal.next_period_start(date(2026, 12, 31), Period::Month),
            date(2027, 1, 1)
        );
    }

    #[test]
    fn midnight_after_days_counts_local_days() {
        let cal = ClinicCalendar::default();
        let late = utc(2026, 3, 3, 15, 30); // 23:30 on 3 March local
        assert_eq!(
            cal.midnight_after_days(late, 30),
            cal.start_of(date(2026, 4, 2))
        );
        assert_eq!(cal.days_between(late, utc(2026, 3, 3, 16, 30)), 1);
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["+08:00", "-05:30", "+00:00", "+14:00"] {
            assert_eq!(ClinicCalendar::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            ClinicCalendar::parse("+0800").unwrap(),
            ClinicCalendar::CHINA
        );
        assert_eq!(ClinicCalendar::parse("Z").unwrap(), ClinicCalendar::UTC);
        assert!(matches!(
            ClinicCalendar::parse("8"),
            Err(CalendarError::Malformed { .. })
        ));
        assert!(matches!(
            ClinicCalendar::parse("+08:60"),
            Err(CalendarError::Malformed { .. })
        ));
        assert!(matches!(
            ClinicCalendar::parse("+15:00"),
            Err(CalendarError::OutOfRange { .. })
        ));
        let json = serde_json::to_string(&ClinicCalendar::CHINA).unwrap();
        assert_eq!(json, "\"+08:00\"");
        let back: ClinicCalendar = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ClinicCalendar::CHINA);
        assert!(serde_json::from_str::<ClinicCalendar>("\"+99:00\"").is_err());
    }

    #[test]
    fn unix_day_numbers_agree_with_dates() {
        let cal = ClinicCalendar::default();
        for t in [
            utc(1969, 12, 31, 15, 0),
            utc(2026, 2, 28, 16, 0),
            utc(2026, 2, 28, 15, 59),
        ] {
            let n = cal.local_day_number(t.timestamp());
            assert_eq!(n, day_number(cal.local_date(t)));
            assert_eq!(cal.local_date_of_unix(t.timestamp()), cal.local_date(t));
        }
    }

    #[test]
    fn accepted_range_constants() {
        assert_eq!(EARLIEST_DATE, date(1900, 1, 1));
        assert_eq!(LATEST_DATE, date(2200, 12, 31));
        assert_eq!(EARLIEST_INSTANT, utc(1900, 1, 2, 0, 0));
        assert_eq!(
            LATEST_INSTANT,
            utc(2200, 12, 31, 0, 0) - Duration::nanoseconds(1)
        );
        // The local date of an accepted instant is an accepted date in every calendar.
        for cal in [
            ClinicCalendar::parse("+14:00").unwrap(),
            ClinicCalendar::parse("-14:00").unwrap(),
            ClinicCalendar::CHINA,
        ] {
            for at in [EARLIEST_INSTANT, LATEST_INSTANT] {
                assert!(
                    check_date("today", cal.local_date(at)).is_ok(),
                    "{cal} {at}"
                );
            }
        }
        let east = ClinicCalendar::parse("+14:00").unwrap();
        let west = ClinicCalendar::parse("-14:00").unwrap();
        assert_eq!(west.local_date(EARLIEST_INSTANT), EARLIEST_DATE);
        assert_eq!(east.local_date(LATEST_INSTANT), LATEST_DATE);
    }

    #[test]
    fn check_instant_is_inclusive_at_both_ends() {
        let one = Duration::nanoseconds(1);
        assert_eq!(check_instant("now", EARLIEST_INSTANT), Ok(EARLIEST_INSTANT));
        assert_eq!(check_instant("now", LATEST_INSTANT), Ok(LATEST_INSTANT));
        assert_eq!(
            check_instant("now", EARLIEST_INSTANT - one),
            Err(CalendarError::DateOutOfRange {
                field: "now",
                value: "1900-01-01T23:59:59.999999999Z".into()
            })
        );
        assert_eq!(
            check_instant("at", LATEST_INSTANT + one),
            Err(CalendarError::DateOutOfRange {
                field: "at",
                value: "2200-12-31T00:00:00Z".into()
            })
        );
        let err = check_instant("now", DateTime::<Utc>::MAX_UTC)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "now +262142-12-31T23:59:59.999999999Z is outside the accepted range \
                 1900-01-01 to 2200-12-31"
            )
        );
    }

    #[test]
    fn check_date_is_inclusive_at_both_ends() {
        assert_eq!(check_date("today", EARLIEST_DATE), Ok(EARLIEST_DATE));
        assert_eq!(check_date("today", LATEST_DATE), Ok(LATEST_DATE));
        for (d, text) in [
            (date(1899, 12, 31), "1899-12-31"),
            (date(2201, 1, 1), "2201-01-01"),
            (NaiveDate::MIN, "-262143-01-01"),
        ] {
            assert_eq!(
                check_date("birth_date", d),
                Err(CalendarError::DateOutOfRange {
                    field: "birth_date",
                    value: text.into()
                })
            );
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Probe {
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
        #[serde(with = "in_range::option_instant")]
        until: Option<DateTime<Utc>>,
        #[serde(with = "in_range::date")]
        on: NaiveDate,
        #[serde(with = "in_range::option_date")]
        birth: Option<NaiveDate>,
        #[serde(with = "in_range::vec_date")]
        days: Vec<NaiveDate>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        on: NaiveDate,
        birth: Option<NaiveDate>,
        days: Vec<NaiveDate>,
    }

    #[test]
    fn in_range_serde_keeps_chronos_form() {
        let probe = Probe {
            at: utc(2026, 3, 1, 16, 0),
            until: Some(LATEST_INSTANT),
            on: EARLIEST_DATE,
            birth: None,
            days: vec![date(2026, 1, 1), LATEST_DATE],
        };
        let plain = Plain {
            at: probe.at,
            until: probe.until,
            on: probe.on,
            birth: probe.birth,
            days: probe.days.clone(),
        };
        let json = serde_json::to_string(&probe).unwrap();
        assert_eq!(json, serde_json::to_string(&plain).unwrap());
        assert_eq!(serde_json::from_str::<Probe>(&json).unwrap(), probe);
    }

    #[test]
    fn in_range_serde_refuses_and_names_the_value() {
        let ok = r#"{"at":"2026-03-01T16:00:00Z","until":null,"on":"2026-03-01","birth":"1950-05-05","days":[]}"#;
        assert!(serde_json::from_str::<Probe>(ok).is_ok());
        for (from, to) in [
            ("2026-03-01T16:00:00Z", "+262142-12-31T23:59:59Z"),
            ("\"until\":null", "\"until\":\"1900-01-01T23:59:59Z\""),
            ("\"on\":\"2026-03-01\"", "\"on\":\"2201-01-01\""),
            ("1950-05-05", "1850-05-05"),
            ("[]", "[\"2026-01-01\",\"9999-01-01\"]"),
        ] {
            let bad = ok.replace(from, to);
            let value = to.rsplit('"').nth(1).unwrap_or(to);
            let err = serde_json::from_str::<Probe>(&bad).unwrap_err().to_string();
            assert!(
                err.contains(value) && err.contains("outside the accepted range"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn calendar_saturates_at_chronos_limits() {
        let east = ClinicCalendar::CHINA;
        let west = ClinicCalendar::parse("-05:00").unwrap();
        let max = DateTime::<Utc>::MAX_UTC;
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(east.local_date(max), NaiveDate::MAX);
        assert_eq!(east.local_time(max), NaiveDateTime::MAX.time());
        assert_eq!(west.local_date(min), NaiveDate::MIN);
        assert_eq!(west.local_time(min), NaiveTime::MIN);
        assert_eq!(east.start_of(NaiveDate::MIN), min);
        assert_eq!(
            west.start_of(NaiveDate::MAX),
            Utc.from_utc_datetime(&NaiveDate::MAX.and_hms_opt(5, 0, 0).unwrap())
        );
        // Chrono's first date is a Wednesday: its week would start before chrono's range.
        assert_eq!(
            east.period_start(NaiveDate::MIN, Period::Week),
            NaiveDate::MIN
        );
        assert_eq!(
            east.bucket(min + Duration::days(3), Period::Week),
            NaiveDate::MIN
        );
    }
}
