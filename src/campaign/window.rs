//! When a campaign applies and what makes it fire: windows, recurrences, triggers.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::calendar::ClinicCalendar;
use crate::money::Yuan;

/// When a campaign may apply: the instants `[start, end)`, and within them, if a recurrence
/// is set, only the local days it names (in the clinic calendar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The first instant it applies.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub start: DateTime<Utc>,
    /// The first instant it no longer applies; `None`: open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::calendar::in_range::option_instant")]
    pub end: Option<DateTime<Utc>>,
    /// The local days it applies on, inside `[start, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
}

/// The local days a recurring campaign applies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Recurrence {
    /// Day `day` of every month (会员日). In a month shorter than `day`, its last day.
    MonthDay {
        /// 1 to 31.
        day: u32,
    },
    /// One weekday of every week (a weekly lecture day).
    Weekday {
        /// The weekday (`"Mon"` … `"Sun"`).
        weekday: Weekday,
    },
    /// Once a year.
    Anniversary {
        /// Which date.
        of: Anniversary,
    },
}

/// The date of a yearly recurrence. 29 February is kept on 28 February in common years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Anniversary {
    /// The patient's birthday (from [`super::Event::birth_date`]); no birth date, no match.
    Birthday,
    /// A fixed date (the clinic's founding day).
    Date {
        /// 1 to 12.
        month: u32,
        /// 1 to the month's length.
        day: u32,
    },
}

/// Why a window does not hold at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WindowMiss {
    /// Before the start.
    NotStarted,
    /// At or after the end.
    Ended,
    /// Inside `[start, end)` but not a day of the recurrence.
    NotARecurrenceDay,
    /// A birthday recurrence and the event carries no birth date.
    NoBirthDate,
}

impl fmt::Display for WindowMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WindowMiss::NotStarted => "the window has not started",
            WindowMiss::Ended => "the window has ended",
            WindowMiss::NotARecurrenceDay => "today is not a day of its recurrence",
            WindowMiss::NoBirthDate => "a birthday campaign and the birth date is unknown",
        })
    }
}

impl Recurrence {
    /// Whether the local date `today` is a day of the recurrence.
    pub fn holds_on(
        self,
        today: NaiveDate,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        self.holds_on_day(&DayInfo::of(today), birth_date)
    }
}

/// A local date taken apart once per evaluation, so that a recurrence check is a few integer
/// comparisons instead of building dates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayInfo {
    month: u32,
    day: u32,
    weekday: Weekday,
    /// The length of the date's month.
    month_len: u32,
}

impl DayInfo {
    pub(crate) fn of(today: NaiveDate) -> Self {
        let next = if today.month() == 12 {
            NaiveDate::from_ymd_opt(today.year().saturating_add(1), 1, 1)
        } else {
            NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
        };
        let month_len = next
            .and_then(|n| n.pred_opt())
            .map_or(31, |last| last.day());
        DayInfo {
            month: today.month(),
            day: today.day(),
            weekday: today.weekday(),
            month_len,
        }
    }

    /// Whether `(month, day)`, kept on the month's last day when the month is shorter, is
    /// this date: what `clamp_day(year, month, day) == Some(today)` says.
    fn is(&self, month: u32, day: u32) -> bool {
        month == self.month && day >= 1 && day.min(self.month_len) == self.day
    }
}

impl Recurrence {
    /// [`Recurrence::holds_on`] for the date `d` describes.
    #[inline]
    pub(crate) fn holds_on_day(
        self,
        d: &DayInfo,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        let hit = match self {
            Recurrence::MonthDay { day } => d.is(d.month, day),
            Recurrence::Weekday { weekday } => d.weekday == weekday,
            Recurrence::Anniversary { of } => match of {
                Anniversary::Birthday => match birth_date {
                    Some(b) => d.is(b.month(), b.day()),
                    None => return Err(WindowMiss::NoBirthDate),
                },
                Anniversary::Date { month, day } => d.is(month, day),
            },
        };
        if hit {
            Ok(())
        } else {
            Err(WindowMiss::NotARecurrenceDay)
        }
    }
}

impl Window {
    /// Whether the window holds at `now`.
    ///
    /// # Errors
    ///
    /// The [`WindowMiss`] saying why not.
    pub fn holds(
        &self,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        self.holds_at(now, calendar.local_date(now), birth_date)
    }

    /// [`Window::holds`] with the local date of `now` already computed.
    pub(crate) fn holds_at(
        &self,
        now: DateTime<Utc>,
        today: NaiveDate,
        birth_date: Option<NaiveDate>,
    ) -> Result<(), WindowMiss> {
        if now < self.start {
            return Err(WindowMiss::NotStarted);
        }
        if self.end.is_some_and(|e| now >= e) {
            return Err(WindowMiss::Ended);
        }
        match self.recurrence {
            Some(r) => r.holds_on(today, birth_date),
            None => Ok(()),
        }
    }
}

/// What kind of event a campaign listens to. Visits and first visits are one class of event
/// (a first visit is a visit), so the index keeps them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventClass {
    /// A visit, first or not.
    Visit,
    /// A purchase.
    Purchase,
    /// A referral qualified.
    ReferralQualified,
    /// The patient's birthday.
    Birthday,
    /// The patient enrolled as a member.
    Enrollment,
    /// The membership tier changed.
    TierChanged,
    /// A follow-up came due.
    FollowUpDue,
    /// A manager broadcast a campaign.
    ManualBroadcast,
}

impl fmt::Display for EventClass {
    /// The snake_case code, as in JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventClass::Visit => "visit",
            EventClass::Purchase => "purchase",
            EventClass::ReferralQualified => "referral_qualified",
            EventClass::Birthday => "birthday",
            EventClass::Enrollment => "enrollment",
            EventClass::TierChanged => "tier_changed",
            EventClass::FollowUpDue => "follow_up_due",
            EventClass::ManualBroadcast => "manual_broadcast",
        })
    }
}

impl EventClass {
    /// Every class, in index order.
    pub const ALL: [EventClass; 8] = [
        EventClass::Visit,
        EventClass::Purchase,
        EventClass::ReferralQualified,
        EventClass::Birthday,
        EventClass::Enrollment,
        EventClass::TierChanged,
        EventClass::FollowUpDue,
        EventClass::ManualBroadcast,
    ];

    pub(crate) fn slot(self) -> usize {
        match self {
            EventClass::Visit => 0,
            EventClass::Purchase => 1,
            EventClass::ReferralQualified => 2,
            EventClass::Birthday => 3,
            EventClass::Enrollment => 4,
            EventClass::TierChanged => 5,
            EventClass::FollowUpDue => 6,
            EventClass::ManualBroadcast => 7,
        }
    }
}

/// The event that makes a campaign fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Trigger {
    /// Any visit.
    Visit,
    /// A purchase of at least `min`.
    Purchase {
        /// The smallest amount that qualifies (¥0: any).
        #[serde(default)]
        min: Yuan,
    },
    /// A patient's first visit.
    FirstVisit,
    /// A referral qualified (the referee's first paid visit).
    ReferralQualified,
    /// The patient's birthday.
    Birthday,
    /// Enrollment as a member.
    Enrollment,
    /// A tier change, to `to` if set.
    TierChanged {
        /// Only a change to this tier code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// A follow-up came due.
    FollowUpDue,
    /// A manager's broadcast of this very campaign.
    ManualBroadcast,
}

impl Trigger {
    /// The class of events it listens to.
    pub fn class(&self) -> EventClass {
        match self {
            Trigger::Visit | Trigger::FirstVisit => EventClass::Visit,
            Trigger::Purchase { .. } => EventClass::Purchase,
            Trigger::ReferralQualified => EventClass::ReferralQualified,
            Trigger::Birthday => EventClass::Birthday,
            Trigger::Enrollment => EventClass::Enrollment,
            Trigger::TierChanged { .. } => EventClass::TierChanged,
            Trigger::FollowUpDue => EventClass::FollowUpDue,
            Trigger::ManualBroadcast => EventClass::ManualBroadcast,
        }
    }

    /// Whether the events it listens to carry an amount paid.
    pub fn has_amount(&self) -> bool {
        matches!(
            self,
            Trigger::Visit | Trigger::FirstVisit | Trigger::Purchase { .. }
        )
    }
}
