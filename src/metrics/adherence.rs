//! Medication adherence: PDC under the PQA rules, and MPR.
//!
//! **PDC** (proportion of days covered) is the measure the Pharmacy Quality Alliance uses for
//! chronic medication. The rules, exactly as this module applies them:
//!
//! 1. Only fills dated inside the measurement period `[start, end]` count.
//! 2. A fill covers the local dates `[fill date, fill date + days − 1]`.
//! 3. When a fill of the **same drug** arrives while earlier supply of that drug is still on
//!    hand, its supply is shifted to start the day after the earlier supply ends. Fills of the
//!    same drug are taken in date order (same-day fills: either order gives the same days).
//! 4. Different drugs of the class are **not** shifted: they may cover the same days.
//! 5. Each day counts once, however many supplies cover it.
//! 6. The patient's period runs from the **index date** (the first fill in the period) to the
//!    period end, both included.
//! 7. The patient is measured only when the index date is at least 91 days before the period
//!    end (`end − index ≥ 91`) and there are at least two fills on distinct dates in the
//!    period.
//! 8. Covered days are capped at the period length: supply running past the end is dropped.
//! 9. The patient is adherent when `PDC ≥ threshold` (0.80 by default).
//!
//! ```
//! use chrono::NaiveDate;
//! use clinic_ops::id::PatientId;
//! use clinic_ops::journey::{Category, DaysSupply, Fill};
//! use clinic_ops::metrics::adherence::{PdcOutcome, PdcPeriod, AdherenceThreshold, pdc_for_patient};
//!
//! let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
//! let fill = |on, days| -> Result<Fill, Box<dyn std::error::Error>> {
//!     Ok(Fill {
//!         patient: PatientId::new(1),
//!         drug: Category::parse("metformin")?,
//!         filled_on: on,
//!         days_supply: DaysSupply::new(days)?,
//!     })
//! };
//! // Refilled 10 days early: the second supply starts on 31 January, not 21 January.
//! let fills = [fill(d(1, 1), 30)?, fill(d(1, 21), 30)?, fill(d(3, 15), 30)?];
//! let period = PdcPeriod::new(d(1, 1), d(6, 30))?;
//! let PdcOutcome::Measured(m) = pdc_for_patient(&fills, &period, AdherenceThreshold::DEFAULT) else {
//!     panic!("measured")
//! };
//! assert_eq!((m.days_in_period, m.days_covered), (181, 90));
//! assert!(!m.adherent);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **MPR** (medication possession ratio) is the older, simpler measure; see [`mpr`].

use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::calendar::day_number;
use crate::id::PatientId;
use crate::journey::{Category, Fill};

/// The minimum days from the index date to the period end (PQA).
pub const MIN_DAYS_INDEX_TO_END: i64 = 91;

/// The longest measurement period accepted: 100 years of days.
pub const MAX_PERIOD_DAYS: i64 = 36_525;

/// Errors from setting up an adherence measurement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AdherenceError {
    /// The period ends before it starts.
    #[error("period end {end} is before period start {start}")]
    EndBeforeStart {
        /// The start given.
        start: NaiveDate,
        /// The end given.
        end: NaiveDate,
    },
    /// The period is longer than [`MAX_PERIOD_DAYS`].
    #[error("period of {days} days exceeds the limit of 36525")]
    PeriodTooLong {
        /// The length asked for.
        days: i64,
    },
    /// A threshold outside `[0, 1]` or not a number.
    #[error("threshold {value} is outside 0..=1")]
    ThresholdOutOfRange {
        /// The value given.
        value: f64,
    },
}

/// A measurement period, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PdcPeriod {
    start: NaiveDate,
    end: NaiveDate,
}

impl PdcPeriod {
    /// The period `[start, end]`.
    ///
    /// # Errors
    ///
    /// [`AdherenceError::EndBeforeStart`] or [`AdherenceError::PeriodTooLong`].
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, AdherenceError> {
        let days = (end - start).num_days() + 1;
        if days < 1 {
            return Err(AdherenceError::EndBeforeStart { start, end });
        }
        if days > MAX_PERIOD_DAYS {
            return Err(AdherenceError::PeriodTooLong { days });
        }
        Ok(Self { start, end })
    }

    /// The first day.
    #[must_use]
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The last day.
    #[must_use]
    pub fn end(&self) -> NaiveDate {
        self.end
    }

    fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }
}

/// The PDC at or above which a patient is adherent.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct AdherenceThreshold(f64);

impl AdherenceThreshold {
    /// 0.80, the PQA threshold.
    pub const DEFAULT: AdherenceThreshold = AdherenceThreshold(0.8);

    /// A threshold in `[0, 1]`.
    ///
    /// # Errors
    ///
    /// [`AdherenceError::ThresholdOutOfRange`] outside `[0, 1]` or for NaN.
    pub fn new(value: f64) -> Result<Self, AdherenceError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(AdherenceError::ThresholdOutOfRange { value })
        }
    }

    /// The value.
    #[must_use]
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for AdherenceThreshold {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A patient's measured PDC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pdc {
    /// The first fill in the period.
    pub index_date: NaiveDate,
    /// Days from the index date to the period end, both included.
    pub days_in_period: u32,
    /// Days in that span covered by at least one supply (≤ `days_in_period`).
    pub days_covered: u32,
    /// Whether `days_covered ÷ days_in_period ≥ threshold`.
    pub adherent: bool,
}

impl Pdc {
    /// `days_covered ÷ days_in_period`, in `[0, 1]`.
    #[must_use]
    pub fn value(&self) -> f64 {
        f64::from(self.days_covered) / f64::from(self.days_in_period.max(1))
    }

    /// The PDC rounded to `decimals` places (at most 9), half away from zero on the exact
    /// ratio, as text: `0.8242`. Exact integer arithmetic, so no binary-float surprise at a
    /// midpoint.
    #[must_use]
    pub fn rounded(&self, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let scale = 10u64.pow(decimals);
        let days = u64::from(self.days_in_period.max(1));
        let scaled = (u64::from(self.days_covered) * scale * 2 + days) / (2 * days);
        if decimals == 0 {
            return scaled.to_string();
        }
        format!(
            "{}.{:0width$}",
            scaled / scale,
            scaled % scale,
            width = decimals as usize
        )
    }
}

/// Why a patient has no PDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Exclusion {
    /// No fill in the period.
    NoFills,
    /// Fewer than two fills on distinct dates in the period.
    FewerThanTwoFillDates,
    /// The index date is less than 91 days before the period end.
    IndexDateTooLate,
}

/// A patient's PDC, or why they are left out of the measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[must_use]
pub enum PdcOutcome {
    /// The patient is in the measure.
    Measured(Pdc),
    /// The patient is left out.
    Excluded(Exclusion),
}

impl PdcOutcome {
    /// The PDC when measured.
    #[must_use]
    pub fn measured(&self) -> Option<&Pdc> {
        match self {
            PdcOutcome::Measured(p) => Some(p),
            PdcOutcome::Excluded(_) => None,
        }
    }
}

/// The PDC of one patient's fills (all of one drug class; the `patient` field is not read).
///
/// Fills may come in any order. See the module docs for the rules.
pub fn pdc_for_patient(
    fills: &[Fill],
    period: &PdcPeriod,
    threshold: AdherenceThreshold,
) -> PdcOutcome {
    let mut refs: Vec<&Fill> = fills
        .iter()
        .filter(|f| period.contains(f.filled_on))
        .collect();
    refs.sort_by_key(|f| f.filled_on);
    let mut scratch = Vec::new();
    pdc_sorted(&refs, period, threshold, &mut scratch)
}

/// PDC for every patient in `fills` (any order, many patients), keyed by patient.
#[must_use]
pub fn pdc_by_patient(
    fills: &[Fill],
    period: &PdcPeriod,
    threshold: AdherenceThreshold,
) -> BTreeMap<PatientId, PdcOutcome> {
    let mut refs: Vec<&Fill> = fills
        .iter()
        .filter(|f| period.contains(f.filled_on))
        .collect();
    // Integer keys only: comparing drug names in the sort cost more than all the rest.
    refs.sort_unstable_by_key(|f| (f.patient, f.filled_on));
    let mut scratch = Vec::new();
    let mut out = BTreeMap::new();
    for group in refs.chunk_by(|a, b| a.patient == b.patient) {
        if let Some(first) = group.first() {
            out.insert(
                first.patient,
                pdc_sorted(group, period, threshold, &mut scratch),
            );
        }
    }
    out
}

/// The core: fills inside the period, sorted by date. `scratch` is a reusable day bitmap so
/// that many patients share one allocation.
fn pdc_sorted(
    fills: &[&Fill],
    period: &PdcPeriod,
    threshold: AdherenceThreshold,
    scratch: &mut Vec<u64>,
) -> PdcOutcome {
    let Some(index) = fills.iter().map(|f| f.filled_on).min() else {
        return PdcOutcome::Excluded(Exclusion::NoFills);
    };
    let has_two_dates = fills.iter().any(|f| f.filled_on != index);
    if !has_two_dates {
        return PdcOutcome::Excluded(Exclusion::FewerThanTwoFillDates);
    }
    if (period.end - index).num_days() < MIN_DAYS_INDEX_TO_END {
        return PdcOutcome::Excluded(Exclusion::IndexDateTooLate);
    }
    let first = day_number(index);
    let last = day_number(period.end);
    // Bounded by MAX_PERIOD_DAYS through PdcPeriod::new.
    let len = (last - first + 1) as usize;
    scratch.clear();
    scratch.resize(len.div_ceil(64), 0);
    // Per drug, the next day on which its supply is free: shifting is per drug only. Taking
    // the fills in date order and keeping one cursor per drug is the same as taking each
    // drug's fills in date order; a class has a handful of drugs, so a list beats a map.
    let mut free_from: Vec<(&Category, i64)> = Vec::new();
    for f in fills {
        let cursor = match free_from.iter().position(|(d, _)| **d == f.drug) {
            Some(i) => free_from.get_mut(i),
            None => {
                free_from.push((&f.drug, i64::MIN));
                free_from.last_mut()
            }
        };
        let Some((_, next_free)) = cursor else {
            continue;
        };
        let start = day_number(f.filled_on).max(*next_free);
        let end = start + i64::from(f.days_supply.get()) - 1;
        *next_free = end + 1;
        mark(scratch, start - first, end.min(last) - first);
    }
    let covered: u32 = scratch.iter().map(|w| w.count_ones()).sum();
    let days = len as u32;
    let pdc = Pdc {
        index_date: index,
        days_in_period: days,
        days_covered: covered,
        adherent: false,
    };
    let adherent = pdc.value() >= threshold.get();
    PdcOutcome::Measured(Pdc { adherent, ..pdc })
}

/// Sets bits `from..=to` (offsets from the index date; empty when `to < from`).
fn mark(bits: &mut [u64], from: i64, to: i64) {
    let mut d = from.max(0);
    while d <= to {
        let (w, b) = ((d / 64) as usize, d % 64);
        let Some(word) = bits.get_mut(w) else { return };
        if b == 0 && to - d >= 63 {
            *word = u64::MAX;
            d += 64;
        } else {
            *word |= 1 << b;
            d += 1;
        }
    }
}

/// A medication possession ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mpr {
    /// Days supplied by every fill dated before the last fill date.
    pub days_supplied: u64,
    /// Days from the first fill date to the last fill date.
    pub days_between: u32,
}

impl Mpr {
    /// `days_supplied ÷ days_between`. Not capped: above 1 means oversupply (stockpiling).
    #[must_use]
    pub fn value(&self) -> f64 {
        self.days_supplied as f64 / f64::from(self.days_between.max(1))
    }

    /// The ratio capped at 1, as most reports show it.
    #[must_use]
    pub fn capped(&self) -> f64 {
        self.value().min(1.0)
    }
}

/// The MPR of one patient's fills (any drugs of one class, any order): days supplied ÷ days
/// between the first and the last fill.
///
/// Edge cases, stated:
/// - The supply of fills on the **last** fill date is left out of the numerator: it is
///   consumed after the interval being measured, and counting it would give a patient with
///   two fills a month apart and 30-day boxes an MPR of 2.
/// - Fewer than two distinct fill dates gives `None`: the interval is empty.
/// - The ratio is not capped; [`Mpr::capped`] caps it at 1.
/// - Fills outside `within` (when given) are ignored.
#[must_use]
pub fn mpr(fills: &[Fill], within: Option<&PdcPeriod>) -> Option<Mpr> {
    let inside = |f: &&Fill| within.is_none_or(|p| p.contains(f.filled_on));
    let first = fills.iter().filter(inside).map(|f| f.filled_on).min()?;
    let last = fills.iter().filter(inside).map(|f| f.filled_on).max()?;
    let days_between = u32::try_from((last - first).num_days()).ok()?;
    if days_between == 0 {
        return None;
    }
    let days_supplied = fills
        .iter()
        .filter(inside)
        .filter(|f| f.filled_on < last)
        .map(|f| u64::from(f.days_supply.get()))
        .sum();
    Some(Mpr {
        days_supplied,
        days_between,
    })
}

/// The distinct drugs in a set of fills, sorted: useful to check that a set is one class.
#[must_use]
pub fn drugs(fills: &[Fill]) -> Vec<&Category> {
    let mut d: Vec<&Category> = fills.iter().map(|f| &f.drug).collect();
    d.sort();
    d.dedup();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::DaysSupply;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }
    fn fill(drug: &str, on: NaiveDate, days: u32) -> Fill {
        Fill {
            patient: PatientId::new(1),
            drug: Category::parse(drug).unwrap(),
            filled_on: on,
            days_supply: DaysSupply::new(days).unwrap(),
        }
    }
    fn measured(fills: &[Fill], p: &PdcPeriod) -> Pdc {
        pdc_for_patient(fills, p, AdherenceThreshold::DEFAULT)
            .measured()
            .cloned()
            .unwrap()
    }
    fn year() -> PdcPeriod {
        PdcPeriod::new(d(1, 1), d(12, 31)).unwrap()
    }

    #[test]
    fn same_drug_overlap_shifts_different_drugs_do_not() {
        // Same drug: 1 Jan ×30 and 20 Jan ×30 → 60 days (the second shifts to 31 Jan).
        let same = [fill("a", d(1, 1), 30), fill("a", d(1, 20), 30)];
        assert_eq!(measured(&same, &year()).days_covered, 60);
        // Different drugs: the overlap 20–30 Jan counts once → 49 days.
        let diff = [fill("a", d(1, 1), 30), fill("b", d(1, 20), 30)];
        assert_eq!(measured(&diff, &year()).days_covered, 49);
    }

    #[test]
    fn shift_chains_through_several_early_refills() {
        // Three 30-day fills on 1, 2 and 3 Jan: 90 consecutive days.
        let f = [
            fill("a", d(1, 3), 30),
            fill("a", d(1, 1), 30),
            fill("a", d(1, 2), 30),
        ];
        assert_eq!(measured(&f, &year()).days_covered, 90);
        // Two same-day fills of one drug are also shifted.
        let f = [
            fill("a", d(1, 1), 30),
            fill("a", d(1, 1), 30),
            fill("a", d(5, 1), 1),
        ];
        assert_eq!(measured(&f, &year()).days_covered, 61);
    }

    #[test]
    fn cap_at_period_end_and_index_date() {
        let p = PdcPeriod::new(d(1, 1), d(6, 30)).unwrap();
        // Index 1 March → 122 days in period; 90 + 90 days supplied, capped at the end.
        let f = [fill("a", d(3, 1), 90), fill("a", d(5, 1), 90)];
        let m = measured(&f, &p);
        assert_eq!(m.index_date, d(3, 1));
        assert_eq!((m.days_in_period, m.days_covered), (122, 122));
        assert!(m.adherent);
        assert_eq!(m.rounded(4), "1.0000");
    }

    #[test]
    fn the_91_day_rule_and_two_fill_dates() {
        let p = PdcPeriod::new(d(1, 1), d(12, 31)).unwrap();
        // 31 Dec − 1 Oct = 91 days: measured. 2 Oct: 90 days, excluded.
        let ok = [fill("a", d(10, 1), 30), fill("a", d(11, 1), 30)];
        assert!(
            pdc_for_patient(&ok, &p, AdherenceThreshold::DEFAULT)
                .measured()
                .is_some()
        );
        let late = [fill("a", d(10, 2), 30), fill("a", d(11, 1), 30)];
        assert_eq!(
            pdc_for_patient(&late, &p, AdherenceThreshold::DEFAULT),
            PdcOutcome::Excluded(Exclusion::IndexDateTooLate)
        );
        let one_date = [fill("a", d(1, 1), 30), fill("b", d(1, 1), 30)];
        assert_eq!(
            pdc_for_patient(&one_date, &p, AdherenceThreshold::DEFAULT),
            PdcOutcome::Excluded(Exclusion::FewerThanTwoFillDates)
        );
        assert_eq!(
            pdc_for_patient(&[], &p, AdherenceThreshold::DEFAULT),
            PdcOutcome::Excluded(Exclusion::NoFills)
        );
        // Fills before the period are ignored, not carried in.
        let before = [fill("a", NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(), 90)];
        assert_eq!(
            pdc_for_patient(&before, &p, AdherenceThreshold::DEFAULT),
            PdcOutcome::Excluded(Exclusion::NoFills)
        );
    }

    #[test]
    fn threshold_is_inclusive_and_rounding_is_exact() {
        // 80 covered of 100 days: exactly 0.80 → adherent.
        let p = PdcPeriod::new(d(1, 1), d(4, 10)).unwrap(); // 100 days
        let f = [fill("a", d(1, 1), 40), fill("a", d(2, 10), 40)];
        let m = measured(&f, &p);
        assert_eq!((m.days_in_period, m.days_covered), (100, 80));
        assert!(m.adherent);
        assert_eq!(m.rounded(4), "0.8000");
        let m = Pdc {
            index_date: d(1, 1),
            days_in_period: 3,
            days_covered: 2,
            adherent: false,
        };
        assert_eq!(m.rounded(4), "0.6667");
        assert_eq!(m.rounded(0), "1");
        assert!(AdherenceThreshold::new(1.2).is_err());
        assert!(AdherenceThreshold::new(f64::NAN).is_err());
        assert!(PdcPeriod::new(d(2, 1), d(1, 1)).is_err());
    }

    #[test]
    fn mpr_edges() {
        let f = [fill("a", d(1, 1), 30), fill("a", d(1, 31), 30)];
        let m = mpr(&f, None).unwrap();
        assert_eq!((m.days_supplied, m.days_between), (30, 30));
        assert_eq!(m.value(), 1.0);
        assert_eq!(mpr(&f[..1], None), None);
        let over = [
            fill("a", d(1, 1), 90),
            fill("a", d(1, 31), 30),
            fill("b", d(1, 31), 30),
        ];
        assert_eq!(mpr(&over, None).unwrap().value(), 3.0);
        assert_eq!(mpr(&over, None).unwrap().capped(), 1.0);
    }
}
