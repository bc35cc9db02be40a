//! Chronic-disease files (慢病档案) and their follow-up cadence.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::text::{TextError, clean_text};

/// A condition code such as an ICD-10 code (`E11` for type 2 diabetes, `I10` for
/// hypertension): 1 to 16 visible ASCII characters, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConditionCode(String);

impl ConditionCode {
    /// Checks and upper-cases a code.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 16 characters, or not visible ASCII.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = clean_text("condition code", s, 16, false)?;
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TextError::Control {
                field: "condition code",
                shown: format!("{t:?}"),
            });
        }
        Ok(ConditionCode(t.to_ascii_uppercase()))
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConditionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ConditionCode {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ConditionCode> for String {
    fn from(c: ConditionCode) -> String {
        c.0
    }
}

/// How many follow-ups a year a chronic file asks for: 1 to 52.
///
/// The national public-health norm for type 2 diabetes and hypertension is at least 4 a year
/// ([`FollowUpCadence::PUBLIC_HEALTH_DEFAULT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct FollowUpCadence(u8);

/// A follow-up cadence outside 1..=52 a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("follow-ups per year {value} is outside 1..=52")]
pub struct CadenceError {
    /// The value given.
    pub value: u8,
}

impl FollowUpCadence {
    /// Four a year: the public-health norm for diabetes and hypertension.
    pub const PUBLIC_HEALTH_DEFAULT: FollowUpCadence = FollowUpCadence(4);

    /// A cadence of `per_year` follow-ups.
    ///
    /// # Errors
    ///
    /// [`CadenceError`] outside 1..=52.
    pub fn per_year(per_year: u8) -> Result<Self, CadenceError> {
        if (1..=52).contains(&per_year) {
            Ok(FollowUpCadence(per_year))
        } else {
            Err(CadenceError { value: per_year })
        }
    }

    /// Follow-ups per year.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }

    /// The longest allowed gap between follow-ups, in days: 365 ÷ cadence, rounded down, so
    /// that N evenly spaced follow-ups always fit in a year (4 a year → every 91 days).
    #[must_use]
    pub fn interval_days(self) -> u32 {
        365 / u32::from(self.0)
    }
}

impl TryFrom<u8> for FollowUpCadence {
    type Error = CadenceError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Self::per_year(v)
    }
}

impl From<FollowUpCadence> for u8 {
    fn from(c: FollowUpCadence) -> u8 {
        c.0
    }
}

/// One chronic-disease file: a diagnosis that asks for follow-ups at a set cadence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChronicFile {
    /// The condition's code.
    pub condition: ConditionCode,
    /// Its name as the clinic writes it (`2型糖尿病`).
    pub name: String,
    /// The local date of diagnosis.
    #[serde(with = "crate::calendar::in_range::date")]
    pub diagnosed_on: NaiveDate,
    /// How often the patient must be followed up.
    pub cadence: FollowUpCadence,
    /// The local date of the last follow-up done, if any.
    #[serde(default, with = "crate::calendar::in_range::option_date")]
    pub last_follow_up: Option<NaiveDate>,
    /// Every follow-up recorded, oldest first.
    #[serde(with = "crate::calendar::in_range::vec_date")]
    pub follow_ups: Vec<NaiveDate>,
    /// When the file was opened.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub opened_at: DateTime<Utc>,
    /// When the file was closed, if it was.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl ChronicFile {
    /// An open file with no follow-up recorded yet, as
    /// [`PatientCommand::OpenChronicFile`](super::PatientCommand::OpenChronicFile) makes it;
    /// add history with the `with_…` methods.
    ///
    /// ```
    /// use chrono::{NaiveDate, TimeZone, Utc};
    /// use clinic_ops::patient::{ChronicFile, ConditionCode, FollowUpCadence};
    ///
    /// let on = |m, d| NaiveDate::from_ymd_opt(2026, m, d).ok_or("bad date");
    /// let opened = Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).single().ok_or("bad time")?;
    /// let file = ChronicFile::new(
    ///     ConditionCode::parse("E11")?,
    ///     "2型糖尿病",
    ///     on(1, 10)?,
    ///     FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
    ///     opened,
    /// )
    /// .with_follow_ups(vec![on(3, 1)?]);
    /// assert_eq!(file.next_due(), on(5, 31)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        condition: ConditionCode,
        name: impl Into<String>,
        diagnosed_on: NaiveDate,
        cadence: FollowUpCadence,
        opened_at: DateTime<Utc>,
    ) -> Self {
        ChronicFile {
            condition,
            name: name.into(),
            diagnosed_on,
            cadence,
            last_follow_up: None,
            follow_ups: Vec::new(),
            opened_at,
            closed_at: None,
        }
    }

    /// The same file with these follow-ups recorded, kept as [`apply`](super::apply) keeps
    /// them: sorted, each date once, the latest as [`last_follow_up`](Self::last_follow_up).
    #[must_use]
    pub fn with_follow_ups(mut self, mut follow_ups: Vec<NaiveDate>) -> Self {
        follow_ups.sort_unstable();
        follow_ups.dedup();
        self.last_follow_up = follow_ups.last().copied();
        self.follow_ups = follow_ups;
        self
    }

    /// The same file, closed at `closed_at`.
    #[must_use]
    pub fn with_closed_at(mut self, closed_at: DateTime<Utc>) -> Self {
        self.closed_at = Some(closed_at);
        self
    }

    /// The local date by which the next follow-up is due: the last follow-up (or the
    /// diagnosis, before any) plus the cadence's interval.
    #[must_use]
    pub fn next_due(&self) -> NaiveDate {
        let from = self.last_follow_up.unwrap_or(self.diagnosed_on);
        from.checked_add_days(Days::new(u64::from(self.cadence.interval_days())))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Whether the file is open and its next follow-up is past due on the local date `on`.
    #[must_use]
    pub fn is_overdue(&self, on: NaiveDate) -> bool {
        self.is_open() && on > self.next_due()
    }

    /// Days past due on `on`, or 0 when not overdue.
    #[must_use]
    pub fn days_overdue(&self, on: NaiveDate) -> i64 {
        if self.is_overdue(on) {
            (on - self.next_due()).num_days()
        } else {
            0
        }
    }

    /// Whether the file is still open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn diabetes_file_comes_due_every_91_days() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let mut f = ChronicFile::new(
            ConditionCode::parse("e11").unwrap(),
            "2型糖尿病",
            d(1, 10),
            FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
            Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap(),
        );
        assert_eq!(f.condition.as_str(), "E11");
        assert_eq!(f.next_due(), d(4, 11));
        assert!(!f.is_overdue(d(4, 11)));
        assert!(f.is_overdue(d(4, 12)));
        assert_eq!(f.days_overdue(d(4, 20)), 9);
        f.last_follow_up = Some(d(4, 1));
        assert_eq!(f.next_due(), d(7, 1));
        f.closed_at = Some(Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap());
        assert!(!f.is_overdue(d(12, 1)));
        assert!(FollowUpCadence::per_year(0).is_err());
        assert!(FollowUpCadence::per_year(53).is_err());
    }

    #[test]
    fn with_follow_ups_keeps_them_as_apply_does() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let opened = Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap();
        let f = ChronicFile::new(
            ConditionCode::parse("I10").unwrap(),
            "高血压",
            d(1, 10),
            FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
            opened,
        )
        .with_follow_ups(vec![d(3, 1), d(2, 1), d(3, 1)]);
        assert_eq!(f.follow_ups, vec![d(2, 1), d(3, 1)]);
        assert_eq!(f.last_follow_up, Some(d(3, 1)));
        assert!(f.is_open());
        assert!(!f.with_closed_at(opened).is_open());
    }
}
