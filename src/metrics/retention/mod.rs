//! Retention cohorts: who came back, period by period, in the clinic's calendar.
//!
//! A patient's **cohort** is the local period of their first visit ([`CohortKind::FirstTime`])
//! or, in [`CohortKind::Recurring`] mode, every local period in which they visited. The matrix
//! cell `[c][k]` counts the members of cohort `c` with at least one visit in period `c + k`, so
//! `retained[0]` is always the cohort's size.
//!
//! Periods are local days, weeks starting on Monday, months or years of a [`ClinicCalendar`]
//! (UTC+8 by default), never UTC ones: PostHog #17415 showed UTC+8 retention a day late by
//! bucketing in UTC. With [`RetentionWindow::Rolling`], period `k` is instead the `k`-th 24-hour (or
//! 7 × 24-hour) window after the patient's own anchor visit, as in Amplitude's "24-hour
//! windows"; the cohort is still the local period of that anchor visit.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clinic_ops::calendar::{ClinicCalendar, Period};
//! use clinic_ops::id::PatientId;
//! use clinic_ops::metrics::retention::{RetentionSpec, retention};
//!
//! let t = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
//! let visits = [
//!     (PatientId::new(1), t(2, 1)),  // Monday 2 March, 09:00 in Beijing
//!     (PatientId::new(1), t(10, 1)), // the next week
//!     (PatientId::new(2), t(3, 1)),
//! ];
//! let spec = RetentionSpec::new(Period::Week, 3)?;
//! let m = retention(&visits, &spec, ClinicCalendar::default())?;
//! let c = &m.cohorts()[0];
//! assert_eq!(c.start.to_string(), "2026-03-02");
//! assert_eq!((c.size, c.retained.clone()), (2, vec![2, 1, 0]));
//! # Ok::<(), clinic_ops::metrics::retention::RetentionError>(())
//! ```
//!
//! The hot path ([`retention_indexed`]) takes dense patient indices and Unix seconds, and
//! buckets with integer arithmetic on [`ClinicCalendar::local_day_number`]; the unit tests
//! check it against [`ClinicCalendar::bucket`].

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::HashMap;

use crate::calendar::{ClinicCalendar, Period, SECONDS_PER_DAY};
use crate::id::PatientId;
use crate::journey::Visit;

mod engine;

use engine::{bitmask_path, index_start, sort_path};

/// The most periods a matrix may have: ten years of days.
pub const MAX_PERIODS: u32 = 3660;

/// The earliest instant accepted, 1900-01-01T00:00:00Z, in Unix seconds.
pub const MIN_UNIX_SECONDS: i64 = -2_208_988_800;

/// The latest instant accepted, 9999-12-31T23:59:59Z, in Unix seconds.
pub const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Up to this many periods the first-time calendar path keeps one bit per (patient, period)
/// instead of sorting: 32 bytes a patient at most.
const BITMASK_MAX_PERIODS: u32 = 256;

/// Errors from building a retention spec or computing a matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// A matrix needs at least one period.
    #[error("periods is 0; a retention matrix needs at least 1")]
    ZeroPeriods,
    /// More than [`MAX_PERIODS`] periods.
    #[error("periods {value} exceeds the limit of 3660")]
    TooManyPeriods {
        /// The number asked for.
        value: u32,
    },
    /// Rolling windows have a fixed length, so they exist only for days and weeks.
    #[error("rolling windows need a day or week period, not a {}", period_name(*period))]
    RollingNeedsFixedLength {
        /// The period asked for.
        period: Period,
    },
    /// A timestamp outside 1900..=9999.
    #[error("timestamp {value} is outside the years 1900 to 9999")]
    TimestampOutOfRange {
        /// The Unix seconds given.
        value: i64,
    },
    /// The patient and timestamp slices of [`retention_indexed`] differ in length.
    #[error("{patients} patient indices but {timestamps} timestamps")]
    LengthMismatch {
        /// Length of the patient slice.
        patients: usize,
        /// Length of the timestamp slice.
        timestamps: usize,
    },
    /// More distinct patients than a `u32` index can hold.
    #[error("more than 4294967295 distinct patients")]
    TooManyPatients,
    /// Two matrices computed with different specs cannot be merged.
    #[error("cannot merge retention matrices computed with different specs")]
    SpecMismatch,
    /// Merged counts of one cohort past `u64::MAX`.
    #[error("merged retention counts of the cohort starting {start} exceed u64::MAX")]
    CountOverflow {
        /// The cohort's start.
        start: NaiveDate,
    },
}

/// How patients are assigned to cohorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CohortKind {
    /// One cohort per patient: the period of the first visit.
    #[default]
    FirstTime,
    /// A patient joins the cohort of every period in which they visited.
    Recurring,
}

/// How period `k` after the cohort is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetentionWindow {
    /// Local calendar periods: period `k` is the `k`-th day, week or month after the cohort's.
    #[default]
    Calendar,
    /// Fixed windows from the patient's anchor visit: period `k` holds the instants
    /// `[anchor + k·L, anchor + (k+1)·L)`, with `L` = 24 h for days and 7 × 24 h for weeks.
    /// The anchor is the first visit (first-time) or the first visit in the cohort's period
    /// (recurring).
    Rolling,
}

/// What to compute: the period size, how many periods, the cohort rule and the window rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RetentionSpec {
    period: Period,
    periods: u32,
    cohorts: CohortKind,
    window: RetentionWindow,
}

impl RetentionSpec {
    /// First-time cohorts over calendar periods, `periods` columns (period 0 included).
    ///
    /// # Errors
    ///
    /// [`RetentionError::ZeroPeriods`] or [`RetentionError::TooManyPeriods`].
    pub fn new(period: Period, periods: u32) -> Result<Self, RetentionError> {
        if periods == 0 {
            return Err(RetentionError::ZeroPeriods);
        }
        if periods > MAX_PERIODS {
            return Err(RetentionError::TooManyPeriods { value: periods });
        }
        Ok(Self {
            period,
            periods,
            cohorts: CohortKind::FirstTime,
            window: RetentionWindow::Calendar,
        })
    }

    /// The same spec with another cohort rule.
    #[must_use]
    pub fn with_cohorts(mut self, cohorts: CohortKind) -> Self {
        self.cohorts = cohorts;
        self
    }

    /// The same spec with another window rule.
    ///
    /// # Errors
    ///
    /// [`RetentionError::RollingNeedsFixedLength`] for rolling months or years.
    pub fn with_window(mut self, window: RetentionWindow) -> Result<Self, RetentionError> {
        if window == RetentionWindow::Rolling && rolling_len(self.period).is_none() {
            return Err(RetentionError::RollingNeedsFixedLength {
                period: self.period,
            });
        }
        self.window = window;
        Ok(self)
    }

    /// The period size.
    #[must_use]
    pub fn period(&self) -> Period {
        self.period
    }

    /// The number of columns.
    #[must_use]
    pub fn periods(&self) -> u32 {
        self.periods
    }

    /// The cohort rule.
    #[must_use]
    pub fn cohorts(&self) -> CohortKind {
        self.cohorts
    }

    /// The window rule.
    #[must_use]
    pub fn window(&self) -> RetentionWindow {
        self.window
    }
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
        _ => "year",
    }
}

fn rolling_len(period: Period) -> Option<i64> {
    match period {
        Period::Day => Some(SECONDS_PER_DAY),
        Period::Week => Some(7 * SECONDS_PER_DAY),
        _ => None,
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cohort {
    /// The local date on which the cohort's period begins.
    pub start: NaiveDate,
    /// Patients in the cohort.
    pub size: u64,
    /// `retained[k]`: members with at least one visit in period `k` (so `retained[0] == size`).
    pub retained: Vec<u64>,
}

/// A retention matrix: cohorts in ascending order of their start, each with its row.
///
/// Only cohorts with at least one member appear. Columns after the last observed period are
/// present and zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[must_use]
pub struct RetentionMatrix {
    spec: RetentionSpec,
    cohorts: Vec<Cohort>,
    #[serde(skip)]
    cohort_index: Vec<i64>,
    #[serde(skip)]
    last_index: Option<i64>,
}

impl RetentionMatrix {
    /// The spec it was computed with.
    #[must_use]
    pub fn spec(&self) -> &RetentionSpec {
        &self.spec
    }

    /// The cohorts, oldest first.
    #[must_use]
    pub fn cohorts(&self) -> &[Cohort] {
        &self.cohorts
    }

    /// Cell `[c][k]`: members of the `c`-th cohort retained in period `k`, or `None` outside
    /// the matrix.
    #[must_use]
    pub fn cell(&self, cohort: usize, k: usize) -> Option<u64> {
        self.cohorts.get(cohort)?.retained.get(k).copied()
    }

    /// The local start date of the period holding the latest visit, if there was any.
    #[must_use]
    pub fn last_observed(&self) -> Option<NaiveDate> {
        self.last_index.map(|i| index_start(self.spec.period, i))
    }

    /// Adds the matrix of a **disjoint** set of patients: sizes and cells add up, so a host can
    /// shard visits by patient, compute each shard anywhere and merge the results exactly
    /// (merging is associative and commutative). Merging overlapping patient sets counts the
    /// shared patients twice.
    ///
    /// # Errors
    ///
    /// - [`RetentionError::SpecMismatch`] when the specs differ;
    /// - [`RetentionError::CountOverflow`] when a cohort's counts add up past `u64::MAX`.
    ///
    /// On an error `self` is unchanged.
    pub fn merge(&mut self, other: &RetentionMatrix) -> Result<(), RetentionError> {
        if self.spec != other.spec {
            return Err(RetentionError::SpecMismatch);
        }
        // Every sum is checked before anything moves, so that a refused merge changes nothing;
        // the adds below then cannot overflow.
        let mine: std::collections::BTreeMap<i64, &Cohort> = self
            .cohort_index
            .iter()
            .copied()
            .zip(&self.cohorts)
            .collect();
        for (idx, c) in other.cohort_index.iter().zip(&other.cohorts) {
            if let Some(row) = mine.get(idx) {
                let fits = row.size.checked_add(c.size).is_some()
                    && row
                        .retained
                        .iter()
                        .zip(&c.retained)
                        .all(|(a, b)| a.checked_add(*b).is_some());
                if !fits {
                    return Err(RetentionError::CountOverflow { start: c.start });
                }
            }
        }
        let mut rows: std::collections::BTreeMap<i64, Cohort> = std::collections::BTreeMap::new();
        let mine = std::mem::take(&mut self.cohorts);
        let indices = std::mem::take(&mut self.cohort_index);
        for (idx, c) in indices.into_iter().zip(mine) {
            rows.insert(idx, c);
        }
        for (&idx, c) in other.cohort_index.iter().zip(&other.cohorts) {
            match rows.get_mut(&idx) {
                Some(row) => {
                    row.size = row.size.saturating_add(c.size);
                    for (a, b) in row.retained.iter_mut().zip(&c.retained) {
                        *a = a.saturating_add(*b);
                    }
                }
                None => {
                    rows.insert(idx, c.clone());
                }
            }
        }
        for (idx, c) in rows {
            self.cohort_index.push(idx);
            self.cohorts.push(c);
        }
        self.last_index = match (self.last_index, other.last_index) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// Mean retention per period, pooled over cohorts: `Σ retained[k] ÷ Σ size` over the
    /// cohorts whose period `c + k` has begun by the latest visit (a cohort that cannot have
    /// been observed in period `k` yet would drag the mean down). `None` where no cohort
    /// qualifies.
    #[must_use]
    pub fn mean_retention(&self) -> Vec<Option<f64>> {
        let Some(last) = self.last_index else {
            return vec![None; self.spec.periods as usize];
        };
        (0..self.spec.periods as usize)
            .map(|k| {
                let (mut kept, mut size) = (0u64, 0u64);
                for (c, idx) in self.cohorts.iter().zip(&self.cohort_index) {
                    if idx.saturating_add(k as i64) <= last {
                        kept = kept.saturating_add(c.retained.get(k).copied().unwrap_or(0));
                        size = size.saturating_add(c.size);
                    }
                }
                (size > 0).then(|| kept as f64 / size as f64)
            })
            .collect()
    }
}

/// Computes the matrix from visits given as (patient, instant), in any order.
///
/// # Errors
///
/// [`RetentionError::TimestampOutOfRange`] for an instant outside 1900..=9999.
pub fn retention(
    visits: &[(PatientId, DateTime<Utc>)],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    let mut dense: HashMap<PatientId, u32> = HashMap::new();
    let mut patients = Vec::with_capacity(visits.len());
    let mut times = Vec::with_capacity(visits.len());
    for (p, at) in visits {
        let next = u32::try_from(dense.len()).map_err(|_| RetentionError::TooManyPatients)?;
        patients.push(*dense.entry(*p).or_insert(next));
        times.push(at.timestamp());
    }
    retention_indexed(&patients, &times, spec, cal)
}

/// Computes the matrix from [`Visit`] records, in any order.
///
/// # Errors
///
/// As [`retention`].
pub fn retention_of_visits(
    visits: &[Visit],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    let pairs: Vec<_> = visits.iter().map(|v| (v.patient, v.at)).collect();
    retention(&pairs, spec, cal)
}

/// Computes the matrix from parallel slices: a dense patient index (`0..n`, as a host's
/// interner hands out) and the visit's Unix seconds. This is the fast path for millions of
/// visits: calendar first-time cohorts take one pass with one 16-byte slot per patient (up to
/// 64 periods) or two passes with one bit per patient and period (up to 256); other specs
/// sort (patient, time) pairs. Visits grouped by patient run fastest (the per-patient slots
/// stay in cache); any order gives the same matrix.
///
/// # Errors
///
/// [`RetentionError::LengthMismatch`] when the slices differ in length,
/// [`RetentionError::TimestampOutOfRange`] for a time outside 1900..=9999.
pub fn retention_indexed(
    patients: &[u32],
    unix_seconds: &[i64],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    if patients.len() != unix_seconds.len() {
        return Err(RetentionError::LengthMismatch {
            patients: patients.len(),
            timestamps: unix_seconds.len(),
        });
    }
    // Sparse indices would make the per-patient tables huge; sorting does not care.
    let max_index = patients.iter().max().map_or(0, |&p| p as usize);
    if spec.cohorts == CohortKind::FirstTime
        && spec.window == RetentionWindow::Calendar
        && spec.periods <= BITMASK_MAX_PERIODS
        && max_index <= patients.len().saturating_mul(4).saturating_add(1024)
    {
        bitmask_path(patients, unix_seconds, spec, cal)
    } else {
        sort_path(patients, unix_seconds, spec, cal)
    }
}

#[cfg(test)]
mod tests {
    use super::engine::period_index;
    use super::*;
    use chrono::TimeZone;

    fn ts(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp()
    }

    #[test]
    fn integer_buckets_agree_with_the_calendar() {
        for cal in [ClinicCalendar::CHINA, ClinicCalendar::UTC] {
            for period in [Period::Day, Period::Week, Period::Month, Period::Year] {
                let mut t = MIN_UNIX_SECONDS;
                while t < MAX_UNIX_SECONDS {
                    let at = DateTime::from_timestamp(t, 0).unwrap();
                    let idx = period_index(period, cal.local_day_number(t));
                    assert_eq!(index_start(period, idx), cal.bucket(at, period), "{t}");
                    t += 86_400 * 13 + 3_607 * 5;
                }
            }
        }
    }

    /// Merged cells used a bare `+`: a panic in debug, a wrapped count in release.
    #[test]
    fn merge_refuses_overflow_and_leaves_the_matrix_unchanged() {
        let spec = RetentionSpec::new(Period::Day, 2).unwrap();
        let t = [ts(2026, 3, 2, 1), ts(2026, 3, 3, 1)];
        let m = retention_indexed(&[0, 0], &t, &spec, ClinicCalendar::CHINA).unwrap();
        let mut big = m.clone();
        big.cohorts[0].retained[1] = u64::MAX;
        let before = big.clone();
        assert_eq!(
            big.merge(&m),
            Err(RetentionError::CountOverflow {
                start: m.cohorts()[0].start
            })
        );
        assert_eq!(big, before);
        let mut sum = m.clone();
        sum.merge(&m).unwrap();
        assert_eq!(sum.cohorts()[0].retained, vec![2, 2]);
    }

    #[test]
    fn utc8_buckets_by_local_time() {
        // 2026-01-31 17:30 UTC is 1 February in Beijing.
        let p = [0u32];
        let t = [ts(2026, 1, 31, 17) + 1800];
        let spec = RetentionSpec::new(Period::Month, 1).unwrap();
        let m = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        assert_eq!(m.cohorts()[0].start.to_string(), "2026-02-01");
        let m = retention_indexed(&p, &t, &spec, ClinicCalendar::UTC).unwrap();
        assert_eq!(m.cohorts()[0].start.to_string(), "2026-01-01");
    }

    fn sample() -> (Vec<u32>, Vec<i64>) {
        let mut p = vec![];
        let mut t = vec![];
        let mut x: u64 = 7;
        for _ in 0..3000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            p.push(((x >> 33) % 200) as u32);
            t.push(1_767_196_800 + ((x >> 20) % (200 * 86_400)) as i64);
        }
        (p, t)
    }

    #[test]
    fn bitmask_and_sort_paths_agree() {
        let (p, t) = sample();
        for period in [Period::Day, Period::Week, Period::Month] {
            for n in [1, 5, 63, 64, 65, 70] {
                let spec = RetentionSpec::new(period, n).unwrap();
                let a = bitmask_path(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
                let b = sort_path(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
                assert_eq!(a, b);
                for c in a.cohorts() {
                    assert_eq!(c.retained[0], c.size);
                }
            }
        }
    }

    /// Sparse indices take the comparison sort, dense ones the counting sort.
    #[test]
    fn sparse_and_dense_indices_agree() {
        let (p, t) = sample();
        let sparse: Vec<u32> = p.iter().map(|&x| x * 100_000 + 7).collect();
        for period in [Period::Day, Period::Week, Period::Month] {
            for kind in [CohortKind::FirstTime, CohortKind::Recurring] {
                for window in [RetentionWindow::Calendar, RetentionWindow::Rolling] {
                    let Ok(spec) = RetentionSpec::new(period, 300)
                        .unwrap()
                        .with_cohorts(kind)
                        .with_window(window)
                    else {
                        continue;
                    };
                    let a = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
                    let b = retention_indexed(&sparse, &t, &spec, ClinicCalendar::CHINA).unwrap();
                    assert_eq!(a, b, "{period:?} {kind:?} {window:?}");
                    assert!(!a.cohorts().is_empty());
                }
            }
        }
    }

    #[test]
    fn recurring_counts_every_period_with_a_visit() {
        // Patient 0 visits in weeks 0, 1, 3; patient 1 in week 1.
        let w = 7 * 86_400;
        let base = ts(2026, 3, 2, 2); // Monday 10:00 local
        let p = [0, 0, 0, 1];
        let t = [base, base + w, base + 3 * w, base + w + 60];
        let spec = RetentionSpec::new(Period::Week, 3)
            .unwrap()
            .with_cohorts(CohortKind::Recurring);
        let m = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        let rows: Vec<_> = m
            .cohorts()
            .iter()
            .map(|c| (c.start.to_string(), c.size, c.retained.clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("2026-03-02".into(), 1, vec![1, 1, 0]),
                ("2026-03-09".into(), 2, vec![2, 0, 1]),
                ("2026-03-23".into(), 1, vec![1, 0, 0]),
            ]
        );
    }

    #[test]
    fn rolling_windows_measure_from_the_anchor() {
        // 23:00 local, then 01:00 local the next day: calendar day 1, rolling window 0.
        let a = ts(2026, 3, 2, 15);
        let p = [0, 0];
        let t = [a, a + 2 * 3600];
        let cal = RetentionSpec::new(Period::Day, 2).unwrap();
        let m = retention_indexed(&p, &t, &cal, ClinicCalendar::CHINA).unwrap();
        assert_eq!(m.cohorts()[0].retained, vec![1, 1]);
        let rolling = cal.with_window(RetentionWindow::Rolling).unwrap();
        let m = retention_indexed(&p, &t, &rolling, ClinicCalendar::CHINA).unwrap();
        assert_eq!(m.cohorts()[0].retained, vec![1, 0]);
        assert_eq!(m.cohorts()[0].start.to_string(), "2026-03-02");
        let err = RetentionSpec::new(Period::Month, 2)
            .unwrap()
            .with_window(RetentionWindow::Rolling)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rolling windows need a day or week period, not a month"
        );
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            RetentionSpec::new(Period::Day, 0),
            Err(RetentionError::ZeroPeriods)
        );
        assert!(RetentionSpec::new(Period::Day, MAX_PERIODS + 1).is_err());
        let spec = RetentionSpec::new(Period::Day, 2).unwrap();
        assert!(matches!(
            retention_indexed(&[0], &[i64::MAX], &spec, ClinicCalendar::CHINA),
            Err(RetentionError::TimestampOutOfRange { .. })
        ));
        assert!(matches!(
            retention_indexed(&[0, 1], &[0], &spec, ClinicCalendar::CHINA),
            Err(RetentionError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn mean_retention_skips_unobserved_cells() {
        let d = 86_400;
        let base = ts(2026, 3, 2, 2);
        // Cohort day 0: 2 patients, 1 back on day 1. Cohort day 1: 1 patient.
        let p = [0, 1, 0, 2];
        let t = [base, base, base + d, base + d];
        let spec = RetentionSpec::new(Period::Day, 3).unwrap();
        let m = retention_indexed(&p, &t, &spec, ClinicCalendar::CHINA).unwrap();
        assert_eq!(m.cell(0, 1), Some(1));
        assert_eq!(m.cell(1, 1), Some(0));
        let mean = m.mean_retention();
        assert_eq!(mean[0], Some(1.0));
        assert_eq!(mean[1], Some(0.5)); // only cohort 0 has reached day 1
        assert_eq!(mean[2], None);
        assert_eq!(m.last_observed().unwrap().to_string(), "2026-03-03");
    }
}
