//! Service levels for complaints: working hours in the clinic calendar, the time to
//! acknowledge (working hours) and to resolve (local days).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::FeedbackError;
use crate::calendar::{ClinicCalendar, add_days};
use crate::id::StaffId;

/// A complaint's service level, as data: acknowledge within `acknowledge_hours` working
/// hours, resolve by the end of the local day `resolve_days` after it was opened (or
/// reopened), where working hours are `start`..`end` on the working weekdays, except closed
/// days. A breach escalates to `escalate_to`.
///
/// The default: Monday to Friday 09:00–18:00, acknowledge within 4 working hours, resolve
/// within 7 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSla", into = "RawSla")]
pub struct SlaPolicy {
    working_days: BTreeSet<u8>,
    start: NaiveTime,
    end: NaiveTime,
    closed_days: BTreeSet<NaiveDate>,
    acknowledge_hours: u32,
    resolve_days: u32,
    escalate_to: Option<StaffId>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    working_days: Vec<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
    #[serde(default)]
    closed_days: BTreeSet<NaiveDate>,
    acknowledge_hours: u32,
    resolve_days: u32,
    #[serde(default)]
    escalate_to: Option<StaffId>,
}

impl TryFrom<RawSla> for SlaPolicy {
    type Error = FeedbackError;
    fn try_from(r: RawSla) -> Result<Self, Self::Error> {
        SlaPolicy::new(
            &r.working_days,
            r.start,
            r.end,
            r.acknowledge_hours,
            r.resolve_days,
        )
        .map(|p| {
            p.with_closed_days(r.closed_days)
                .with_escalation(r.escalate_to)
        })
    }
}

impl From<SlaPolicy> for RawSla {
    fn from(p: SlaPolicy) -> Self {
        RawSla {
            working_days: p
                .working_days
                .iter()
                .filter_map(|&d| Weekday::try_from(d).ok())
                .collect(),
            start: p.start,
            end: p.end,
            closed_days: p.closed_days,
            acknowledge_hours: p.acknowledge_hours,
            resolve_days: p.resolve_days,
            escalate_to: p.escalate_to,
        }
    }
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            working_days: (0..5).collect(),
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
            closed_days: BTreeSet::new(),
            acknowledge_hours: 4,
            resolve_days: 7,
            escalate_to: None,
        }
    }
}

impl SlaPolicy {
    /// A policy over working weekdays and hours.
    ///
    /// # Errors
    ///
    /// [`FeedbackError::Policy`] naming the field: no working day, `start` not before `end`
    /// or not on a whole minute, `acknowledge_hours` outside 1..=720, `resolve_days` outside
    /// 1..=365.
    pub fn new(
        working_days: &[Weekday],
        start: NaiveTime,
        end: NaiveTime,
        acknowledge_hours: u32,
        resolve_days: u32,
    ) -> Result<Self, FeedbackError> {
        let bad = |field, why: String| FeedbackError::Policy { field, why };
        if working_days.is_empty() {
            return Err(bad("working_days", "no working day".into()));
        }
        if start >= end
            || start.second() != 0
            || end.second() != 0
            || start.nanosecond() != 0
            || end.nanosecond() != 0
        {
            return Err(bad(
                "start",
                format!("{start}–{end} is not a range of whole minutes"),
            ));
        }
        if !(1..=720).contains(&acknowledge_hours) {
            return Err(bad(
                "acknowledge_hours",
                format!("{acknowledge_hours} is outside 1..=720"),
            ));
        }
        if !(1..=365).contains(&resolve_days) {
            return Err(bad(
                "resolve_days",
                format!("{resolve_days} is outside 1..=365"),
            ));
        }
        Ok(SlaPolicy {
            working_days: working_days
                .iter()
                .map(|d| u8::try_from(d.num_days_from_monday()).unwrap_or(0))
                .collect(),
            start,
            end,
            closed_days: BTreeSet::new(),
            acknowledge_hours,
            resolve_days,
            escalate_to: None,
        })
    }

    /// The same policy with days the clinic is closed (holidays), which hold no working hours.
    #[must_use]
    pub fn with_closed_days(mut self, days: BTreeSet<NaiveDate>) -> Self {
        self.closed_days = days;
        self
    }

    /// The same policy escalating breaches to a staff member.
    #[must_use]
    pub fn with_escalation(mut self, to: Option<StaffId>) -> Self {
        self.escalate_to = to;
        self
    }

    /// Who breaches escalate to.
    #[must_use]
    pub fn escalate_to(&self) -> Option<StaffId> {
        self.escalate_to
    }

    fn works_on(&self, date: NaiveDate) -> bool {
        let wd = u8::try_from(date.weekday().num_days_from_monday()).unwrap_or(0);
        self.working_days.contains(&wd) && !self.closed_days.contains(&date)
    }

    /// The instant `hours` working hours after `from`: the clock runs only inside working
    /// hours on working days, so a complaint opened on Friday evening is due on Monday.
    #[must_use]
    pub fn add_working_hours(
        &self,
        from: DateTime<Utc>,
        hours: u32,
        calendar: ClinicCalendar,
    ) -> DateTime<Utc> {
        let mut left = i64::from(hours) * 3600;
        let mut day = calendar.local_date(from);
        let day_start = self.start.num_seconds_from_midnight();
        let day_end = self.end.num_seconds_from_midnight();
        // The working seconds already passed on the first day.
        let mut t = i64::from(calendar.local_time(from).num_seconds_from_midnight());
        // A week has at least one working day; closed days are finite, so this ends. The cap
        // keeps a policy closed for years from looping without end.
        for _ in 0..(366 * 20) {
            if self.works_on(day) {
                let s = t.max(i64::from(day_start));
                let e = i64::from(day_end);
                if s < e {
                    let avail = e - s;
                    if left <= avail {
                        return calendar
                            .start_of(day)
                            .checked_add_signed(Duration::seconds(s + left))
                            .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    }
                    left -= avail;
                }
            }
            day = add_days(day, 1);
            t = 0;
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// When a complaint opened (or reopened) at `from` must be acknowledged.
    #[must_use]
    pub fn acknowledge_by(&self, from: DateTime<Utc>, calendar: ClinicCalendar) -> DateTime<Utc> {
        self.add_working_hours(from, self.acknowledge_hours, calendar)
    }

    /// When it must be resolved: the end of the local day `resolve_days` after `from` (the
    /// start of the next), across month and year ends as the calendar runs.
    #[must_use]
    pub fn resolve_by(&self, from: DateTime<Utc>, calendar: ClinicCalendar) -> DateTime<Utc> {
        let day = add_days(calendar.local_date(from), u64::from(self.resolve_days) + 1);
        calendar.start_of(day)
    }
}
