//! The clinic's follow-up policy: quiet hours, contact time, weekly cap, retries.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::FollowUpError;
use super::solar::SolarTermTable;
use crate::calendar::ClinicCalendar;

/// Local hours in which no call or message may be due, such as 21:00–08:00. The window may
/// wrap past midnight; `start` is inside it and `end` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQuietHours")]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

#[derive(Deserialize)]
struct RawQuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl TryFrom<RawQuietHours> for QuietHours {
    type Error = FollowUpError;
    fn try_from(r: RawQuietHours) -> Result<Self, Self::Error> {
        QuietHours::new(r.start, r.end)
    }
}

impl Default for QuietHours {
    /// 21:00 to 08:00 local time.
    fn default() -> Self {
        QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl QuietHours {
    /// Quiet from `start` (inclusive) to `end` (exclusive), local time.
    ///
    /// # Errors
    ///
    /// [`FollowUpError::QuietHours`] when `start == end`, which would leave no or every hour
    /// quiet.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, FollowUpError> {
        if start == end {
            return Err(FollowUpError::QuietHours { start, end });
        }
        Ok(QuietHours { start, end })
    }

    /// When quiet hours begin.
    #[must_use]
    pub fn start(self) -> NaiveTime {
        self.start
    }

    /// When they end.
    #[must_use]
    pub fn end(self) -> NaiveTime {
        self.end
    }

    /// Whether a local wall-clock time is inside quiet hours.
    #[must_use]
    pub fn contains(self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// The first instant at or after `at` outside quiet hours, in the clinic's local time.
    #[must_use]
    pub fn next_allowed(self, at: DateTime<Utc>, calendar: ClinicCalendar) -> DateTime<Utc> {
        let t = calendar.local_time(at);
        if !self.contains(t) {
            return at;
        }
        let date = calendar.local_date(at);
        // Past midnight in a wrapping window (or any time in a same-day window) the window
        // ends today; before midnight in a wrapping window it ends tomorrow.
        let end_day = if self.start > self.end && t >= self.start {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        let start = calendar.start_of(end_day);
        start
            .checked_add_signed(self.end - NaiveTime::MIN)
            .unwrap_or(start)
    }
}

/// How a clinic runs follow-ups: the rules every care plan obeys.
///
/// Build with [`FollowUpPolicy::new`] or deserialise (the same checks run); the default is
/// quiet hours 21:00–08:00, calls at 10:00, 3 contacts a week, 3 attempts with a 4-hour
/// backoff that doubles, planning today only, and the built-in solar-term table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct FollowUpPolicy {
    quiet_hours: QuietHours,
    contact_time: NaiveTime,
    weekly_cap: u8,
    max_attempts: u8,
    backoff_hours: u16,
    lookahead_days: u16,
    solar_terms: SolarTermTable,
}

#[derive(Deserialize)]
struct RawPolicy {
    #[serde(default)]
    quiet_hours: QuietHours,
    #[serde(default = "default_contact_time")]
    contact_time: NaiveTime,
    #[serde(default = "default_cap")]
    weekly_cap: u8,
    #[serde(default = "default_attempts")]
    max_attempts: u8,
    #[serde(default = "default_backoff")]
    backoff_hours: u16,
    #[serde(default)]
    lookahead_days: u16,
    #[serde(default)]
    solar_terms: SolarTermTable,
}

fn default_contact_time() -> NaiveTime {
    NaiveTime::from_hms_opt(10, 0, 0).unwrap_or(NaiveTime::MIN)
}
fn default_cap() -> u8 {
    3
}
fn default_attempts() -> u8 {
    3
}
fn default_backoff() -> u16 {
    4
}

impl TryFrom<RawPolicy> for FollowUpPolicy {
    type Error = FollowUpError;
    fn try_from(r: RawPolicy) -> Result<Self, Self::Error> {
        FollowUpPolicy::new(r.quiet_hours, r.contact_time, r.weekly_cap)?
            .with_retries(r.max_attempts, r.backoff_hours)?
            .with_lookahead(r.lookahead_days)
            .map(|p| p.with_solar_terms(r.solar_terms))
    }
}

impl Default for FollowUpPolicy {
    fn default() -> Self {
        FollowUpPolicy {
            quiet_hours: QuietHours::default(),
            contact_time: default_contact_time(),
            weekly_cap: default_cap(),
            max_attempts: default_attempts(),
            backoff_hours: default_backoff(),
            lookahead_days: 0,
            solar_terms: SolarTermTable::builtin(),
        }
    }
}

/// The most contacts a week a policy may allow.
pub const MAX_WEEKLY_CAP: u8 = 21;

impl FollowUpPolicy {
    /// A policy with quiet hours, the local time calls and messages are planned for (moved
    /// out of quiet hours if it falls inside), and the most contacts per patient per local
    /// week, 1 to [`MAX_WEEKLY_CAP`].
    ///
    /// # Errors
    ///
    /// [`FollowUpError::OutOfRange`] for a cap outside 1..=21.
    pub fn new(
        quiet_hours: QuietHours,
        contact_time: NaiveTime,
        weekly_cap: u8,
    ) -> Result<Self, FollowUpError> {
        range(
            "weekly_cap",
            u32::from(weekly_cap),
            1,
            u32::from(MAX_WEEKLY_CAP),
        )?;
        Ok(FollowUpPolicy {
            quiet_hours,
            contact_time,
            weekly_cap,
            ..FollowUpPolicy::default()
        })
    }

    /// Attempts per occurrence (1 to 10) and the first backoff after "not reached" in hours
    /// (1 to 168); each further retry doubles it.
    ///
    /// # Errors
    ///
    /// [`FollowUpError::OutOfRange`] naming the field.
    pub fn with_retries(
        mut self,
        max_attempts: u8,
        backoff_hours: u16,
    ) -> Result<Self, FollowUpError> {
        range("max_attempts", u32::from(max_attempts), 1, 10)?;
        range("backoff_hours", u32::from(backoff_hours), 1, 168)?;
        self.max_attempts = max_attempts;
        self.backoff_hours = backoff_hours;
        Ok(self)
    }

    /// Plan tasks due up to `days` after today as well (0 to 31; 0 plans today only).
    ///
    /// # Errors
    ///
    /// [`FollowUpError::OutOfRange`] beyond 31.
    pub fn with_lookahead(mut self, days: u16) -> Result<Self, FollowUpError> {
        range("lookahead_days", u32::from(days), 0, 31)?;
        self.lookahead_days = days;
        Ok(self)
    }

    /// Uses another solar-term table.
    #[must_use]
    pub fn with_solar_terms(mut self, table: SolarTermTable) -> Self {
        self.solar_terms = table;
        self
    }

    /// The quiet hours.
    #[must_use]
    pub fn quiet_hours(&self) -> QuietHours {
        self.quiet_hours
    }

    /// The local time calls and messages are planned for.
    #[must_use]
    pub fn contact_time(&self) -> NaiveTime {
        self.contact_time
    }

    /// The most contacts per patient per local week.
    #[must_use]
    pub fn weekly_cap(&self) -> u8 {
        self.weekly_cap
    }

    /// Attempts per occurrence.
    #[must_use]
    pub fn max_attempts(&self) -> u8 {
        self.max_attempts
    }

    /// The backoff before attempt `n` (from 1): `backoff_hours × 2^(n−1)`, capped at 2^6.
    #[must_use]
    pub fn backoff_before(&self, attempt: u8) -> Duration {
        let doublings = u32::from(attempt.saturating_sub(1).min(6));
        Duration::hours(i64::from(self.backoff_hours) << doublings)
    }

    /// Days after today that are planned too.
    #[must_use]
    pub fn lookahead_days(&self) -> u16 {
        self.lookahead_days
    }

    /// The solar-term table.
    #[must_use]
    pub fn solar_terms(&self) -> &SolarTermTable {
        &self.solar_terms
    }
}

pub(super) fn range(
    field: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), FollowUpError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(FollowUpError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_push_to_their_end() {
        let q = QuietHours::default();
        assert!(q.contains(t(21, 0)) && q.contains(t(23, 59)) && q.contains(t(7, 59)));
        assert!(!q.contains(t(8, 0)) && !q.contains(t(20, 59)));
        let cal = ClinicCalendar::default();
        // 22:30 local on 23 Nov → 08:00 local on 24 Nov.
        let late = Utc.with_ymd_and_hms(2026, 11, 23, 14, 30, 0).unwrap();
        assert_eq!(
            q.next_allowed(late, cal),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        // 06:00 local → 08:00 the same day.
        let early = Utc.with_ymd_and_hms(2026, 11, 22, 22, 0, 0).unwrap();
        assert_eq!(
            q.next_allowed(early, cal),
            Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
        );
        let lunch = QuietHours::new(t(12, 0), t(14, 0)).unwrap();
        assert!(lunch.contains(t(13, 0)) && !lunch.contains(t(14, 0)));
        // 12:30 local → 14:00 local the same day.
        let noon = Utc.with_ymd_and_hms(2026, 11, 23, 4, 30, 0).unwrap();
        assert_eq!(
            lunch.next_allowed(noon, cal),
            Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap()
        );
        assert_eq!(lunch.next_allowed(late, cal), late);
        assert!(QuietHours::new(t(8, 0), t(8, 0)).is_err());
    }

    #[test]
    fn policy_validates_on_load() {
        let p: FollowUpPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, FollowUpPolicy::default());
        let json = serde_json::to_string(&p.clone().with_lookahead(3).unwrap()).unwrap();
        let back: FollowUpPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.lookahead_days(), 3);
        assert_eq!(back.solar_terms(), p.solar_terms());
        assert!(serde_json::from_str::<FollowUpPolicy>(r#"{"weekly_cap": 0}"#).is_err());
        let e = serde_json::from_str::<FollowUpPolicy>(
            r#"{"quiet_hours": {"start": "21:00:00", "end": "21:00:00"}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("21:00"), "{e}");
        assert_eq!(p.backoff_before(1), Duration::hours(4));
        assert_eq!(p.backoff_before(3), Duration::hours(16));
    }
}
