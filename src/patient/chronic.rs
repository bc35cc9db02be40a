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
    pub fn get(self) -> u8 {
        self.0
    }

    /// The longest allowed gap between follow-ups, in days: 365 ÷ cadence, rounded down, so
    /// that N evenly spaced follow-ups always fit in a year (4 a year → every 91 days).
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
    /// The local date by which the next follow-up is due: the last follow-up (or the
    /// diagnosis, before any) plus the cadence's interval.
    pub fn next_due(&self) -> NaiveDate {
        let from = self.last_follow_up.unwrap_or(self.diagnosed_on);
        from.checked_add_days(Days::new(u64::from(self.cadence.interval_days())))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Whether the file is open and its next follow-up is past due on the local date `on`.
    pub fn is_overdue(&self, on: NaiveDate) -> bool {
        self.is_open() && on > self.next_due()
    }

    /// Days past due on `on`, or 0 when not overdue.
    pub fn days_overdue(&self, on: NaiveDate) -> i64 {
        if self.is_overdue(on) {
            (on - self.next_due()).num_days()
        } else {
            0
        }
    }

    /// Whether the file is still open.
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
        let mut f = ChronicFile {
            condition: ConditionCode::parse("e11").unwrap(),
            name: "2型糖尿病".into(),
            diagnosed_on: d(1, 10),
            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
            last_follow_up: None,
            follow_ups: vec![],
            opened_at: Utc.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap(),
            closed_at: None,
        };
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
}
