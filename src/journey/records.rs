//! Journey records shared by every module: visits, purchases and medicine fills.
//!
//! Segmentation, referrals, follow-ups and the metrics all read the same facts about what a
//! patient did. These are those facts, defined once. They are plain values the host builds
//! from its HIS or order tables; the library never fetches them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::id::{ClinicId, DoctorId, PatientId, PurchaseId, VisitId};
use crate::money::Yuan;
use crate::text::{Label, TextError};

/// A visit (就诊): the patient checked in and was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// The visit.
    pub id: VisitId,
    /// Who visited.
    pub patient: PatientId,
    /// When they checked in.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
    /// Where.
    pub clinic: ClinicId,
    /// The doctor seen, if recorded.
    pub doctor: Option<DoctorId>,
    /// What the patient paid for the visit (consultation and medicine), ¥0 for a free one.
    pub paid: Yuan,
    /// When the payment was refunded in full, if it was.
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub refunded_at: Option<DateTime<Utc>>,
}

impl Visit {
    /// A visit with no doctor recorded and no refund; add them with the `with_…` methods.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clinic_ops::id::{ClinicId, DoctorId, PatientId, VisitId};
    /// use clinic_ops::journey::Visit;
    /// use clinic_ops::money::Yuan;
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
    /// let visit = Visit::new(VisitId::new(1), PatientId::new(7), at, ClinicId::new(1), Yuan::parse("120")?)
    ///     .with_doctor(DoctorId::new(3));
    /// assert!(!visit.is_refunded_by(at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        id: VisitId,
        patient: PatientId,
        at: DateTime<Utc>,
        clinic: ClinicId,
        paid: Yuan,
    ) -> Self {
        Visit {
            id,
            patient,
            at,
            clinic,
            doctor: None,
            paid,
            refunded_at: None,
        }
    }

    /// The same visit with the doctor seen.
    #[must_use]
    pub fn with_doctor(mut self, doctor: DoctorId) -> Self {
        self.doctor = Some(doctor);
        self
    }

    /// The same visit, refunded in full at `refunded_at`.
    #[must_use]
    pub fn with_refunded_at(mut self, refunded_at: DateTime<Utc>) -> Self {
        self.refunded_at = Some(refunded_at);
        self
    }

    /// Whether the visit was refunded at or before `at`.
    #[must_use]
    pub fn is_refunded_by(&self, at: DateTime<Utc>) -> bool {
        self.refunded_at.is_some_and(|r| r <= at)
    }
}

/// A purchase (取药, 购买疗程): medicine, a course of treatment or a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The order.
    pub id: PurchaseId,
    /// Who bought.
    pub patient: PatientId,
    /// When it was paid.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
    /// The amount paid.
    pub amount: Yuan,
    /// The product category (`herbal`, `course`, `device`), which earning policies may rate
    /// differently.
    pub category: Option<Category>,
    /// Days of supply, for medicine and courses: when it runs out.
    pub days_supply: Option<DaysSupply>,
}

impl Purchase {
    /// A purchase with no category and no days of supply; add them with the `with_…`
    /// methods.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clinic_ops::id::{PatientId, PurchaseId};
    /// use clinic_ops::journey::{Category, DaysSupply, Purchase};
    /// use clinic_ops::money::Yuan;
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
    /// let course = Purchase::new(PurchaseId::new(1), PatientId::new(7), at, Yuan::parse("680")?)
    ///     .with_category(Category::parse("course")?)
    ///     .with_days_supply(DaysSupply::new(28)?);
    /// assert_eq!(course.days_supply.map(DaysSupply::get), Some(28));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(id: PurchaseId, patient: PatientId, at: DateTime<Utc>, amount: Yuan) -> Self {
        Purchase {
            id,
            patient,
            at,
            amount,
            category: None,
            days_supply: None,
        }
    }

    /// The same purchase in a product category.
    #[must_use]
    pub fn with_category(mut self, category: Category) -> Self {
        self.category = Some(category);
        self
    }

    /// The same purchase with days of supply.
    #[must_use]
    pub fn with_days_supply(mut self, days_supply: DaysSupply) -> Self {
        self.days_supply = Some(days_supply);
        self
    }
}

/// A short product-category code, at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);

impl Category {
    /// Checks a category code.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 32 characters or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        Label::parse(s).and_then(|l| {
            if l.as_str().chars().count() > 32 {
                Err(TextError::TooLong {
                    field: "category",
                    shown: format!("{:?}", l.as_str()),
                    len: l.as_str().chars().count(),
                    max: 32,
                })
            } else {
                Ok(Category(l.as_str().to_owned()))
            }
        })
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Category {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.0
    }
}

/// Days of medicine supplied: 1 to 3,650.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct DaysSupply(u32);

/// Days of supply outside 1..=3650.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("days of supply {value} is outside 1..=3650")]
pub struct DaysSupplyError {
    /// The value given.
    pub value: u32,
}

impl DaysSupply {
    /// The largest supply accepted: ten years.
    pub const MAX: u32 = 3650;

    /// Checks a supply in days.
    ///
    /// # Errors
    ///
    /// [`DaysSupplyError`] for zero or more than ten years.
    pub fn new(days: u32) -> Result<Self, DaysSupplyError> {
        if (1..=Self::MAX).contains(&days) {
            Ok(DaysSupply(days))
        } else {
            Err(DaysSupplyError { value: days })
        }
    }

    /// The number of days.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for DaysSupply {
    type Error = DaysSupplyError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<DaysSupply> for u32 {
    fn from(d: DaysSupply) -> u32 {
        d.0
    }
}

/// A medicine fill (配药): a drug dispensed on a local date with days of supply. Adherence
/// (PDC) and refill reminders read these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Who it was for.
    pub patient: PatientId,
    /// The drug (a code or name the host uses consistently).
    pub drug: Category,
    /// The local date it was dispensed.
    #[serde(with = "crate::calendar::in_range::date")]
    pub filled_on: NaiveDate,
    /// How many days it lasts.
    pub days_supply: DaysSupply,
}

impl Fill {
    /// A fill of `drug` for `patient` on `filled_on`, lasting `days_supply`.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use clinic_ops::id::PatientId;
    /// use clinic_ops::journey::{Category, DaysSupply, Fill};
    ///
    /// let on = |m, d| NaiveDate::from_ymd_opt(2026, m, d).ok_or("bad date");
    /// let fill = Fill::new(PatientId::new(7), Category::parse("metformin")?, on(1, 1)?, DaysSupply::new(30)?);
    /// assert_eq!(fill.last_covered_day(), on(1, 30)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        patient: PatientId,
        drug: Category,
        filled_on: NaiveDate,
        days_supply: DaysSupply,
    ) -> Self {
        Fill {
            patient,
            drug,
            filled_on,
            days_supply,
        }
    }

    /// The last local date this fill covers: `filled_on + days − 1`.
    #[must_use]
    pub fn last_covered_day(&self) -> NaiveDate {
        self.filled_on
            .checked_add_days(chrono::Days::new(u64::from(self.days_supply.get() - 1)))
            .unwrap_or(NaiveDate::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_cover_their_days() {
        let f = Fill::new(
            PatientId::new(1),
            Category::parse("metformin").unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            DaysSupply::new(30).unwrap(),
        );
        assert_eq!(
            f.last_covered_day(),
            NaiveDate::from_ymd_opt(2026, 1, 30).unwrap()
        );
        assert!(DaysSupply::new(0).is_err());
        assert!(serde_json::from_str::<DaysSupply>("0").is_err());
        assert!(Category::parse(&"x".repeat(33)).is_err());
    }
}
