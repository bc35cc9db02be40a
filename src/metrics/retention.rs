//! Retention cohorts: who came back, period by period, in the clinic's calendar.
//!
//! A patient's **cohort** is the local period of their first visit ([`CohortKind::FirstTime`])
//! or, in [`CohortKind::Recurring`] mode, every local period in which they visited. The matrix
//! cell `[c][k]` counts the members of cohort `c` with at least one visit in period `c + k`, so
//! `retained[0]` is always the cohort's size.
//!
//! Periods are local days, weeks starting on Monday, months or years of a [`ClinicCalendar`]
//! (UTC+8 by default), never UTC ones: PostHog #17415 showed UTC+8 retention a day late by
//! bucketing in UTC. With [`Window::Rolling`], period `k` is instead the `k`-th 24-hour (or
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
use std::collections::{BTreeMap, HashMap};

use crate::calendar::{ClinicCalendar, Period, SECONDS_PER_DAY};
use crate::id::PatientId;
use crate::journey::Visit;

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
    #[error("rolling windows need a day or week period, not {period:?}")]
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
pub enum Window {
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
    window: Window,
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
            window: Window::Calendar,
        })
    }

    /// The same spec with another cohort rule.
    pub fn with_cohorts(mut self, cohorts: CohortKind) -> Self {
        self.cohorts = cohorts;
        self
    }

    /// The same spec with another window rule.
    ///
    /// # Errors
    ///
    /// [`RetentionError::RollingNeedsFixedLength`] for rolling months or years.
    pub fn with_window(mut self, window: Window) -> Result<Self, RetentionError> {
        if window == Window::Rolling && rolling_len(self.period).is_none() {
            return Err(RetentionError::RollingNeedsFixedLength {
                period: self.period,
            });
        }
        self.window = window;
        Ok(self)
    }

    /// The period size.
    pub fn period(&self) -> Period {
        self.period
    }

    /// The number of columns.
    pub fn periods(&self) -> u32 {
        self.periods
    }

    /// The cohort rule.
    pub fn cohorts(&self) -> CohortKind {
        self.cohorts
    }

    /// The window rule.
    pub fn window(&self) -> Window {
        self.window
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
    pub fn spec(&self) -> &RetentionSpec {
        &self.spec
    }

    /// The cohorts, oldest first.
    pub fn cohorts(&self) -> &[Cohort] {
        &self.cohorts
    }

    /// Cell `[c][k]`: members of the `c`-th cohort retained in period `k`, or `None` outside
    /// the matrix.
    pub fn cell(&self, cohort: usize, k: usize) -> Option<u64> {
        self.cohorts.get(cohort)?.retained.get(k).copied()
    }

    /// The local start date of the period holding the latest visit, if there was any.
    pub fn last_observed(&self) -> Option<NaiveDate> {
        self.last_index.map(|i| index_start(self.spec.period, i))
    }

    /// Mean retention per period, pooled over cohorts: `Σ retained[k] ÷ Σ size` over the
    /// cohorts whose period `c + k` has begun by the latest visit (a cohort that cannot have
    /// been observed in period `k` yet would drag the mean down). `None` where no cohort
    /// qualifies.
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

/// Days from 1970-01-01 to the first day of month `m` (1..=12) of year `y` (proleptic
/// Gregorian; Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12) of a day number since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64) {
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

/// The integer index of the calendar period holding a local day number: the day itself,
/// the Monday-based week (1970-01-01 was a Thursday, so Monday 1969-12-29 starts week 0),
/// `year × 12 + month − 1`, or the year.
pub(crate) fn period_index(period: Period, day: i64) -> i64 {
    match period {
        Period::Day => day,
        Period::Week => (day + 3).div_euclid(7),
        Period::Month => {
            let (y, m) = civil_from_days(day);
            y * 12 + m - 1
        }
        Period::Year => civil_from_days(day).0,
    }
}

/// Turns Unix seconds into period indices. Months and years go through a per-day table
/// around the first day seen, filled on first use: the civil-date arithmetic was the costliest
/// step of a retention run over ten million visits.
struct Bucketer {
    period: Period,
    cal: ClinicCalendar,
    base: i64,
    table: Vec<i32>,
}

/// Days the month/year table covers (about 180 years; other days are computed directly).
const TABLE_DAYS: i64 = 1 << 16;

impl Bucketer {
    fn new(period: Period, cal: ClinicCalendar, first_ts: Option<i64>) -> Self {
        let cached = matches!(period, Period::Month | Period::Year);
        let base = first_ts.map_or(0, |t| cal.local_day_number(t) - TABLE_DAYS / 2);
        Self {
            period,
            cal,
            base,
            table: if cached {
                vec![i32::MIN; TABLE_DAYS as usize]
            } else {
                Vec::new()
            },
        }
    }

    /// The period index of a checked timestamp (1900..=9999, so every index fits an `i32`).
    #[inline]
    fn index(&mut self, ts: i64) -> i64 {
        let day = self.cal.local_day_number(ts);
        let slot = usize::try_from(day - self.base)
            .ok()
            .and_then(|i| self.table.get_mut(i));
        match slot {
            Some(e) => {
                if *e == i32::MIN {
                    *e = period_index(self.period, day) as i32;
                }
                i64::from(*e)
            }
            None => period_index(self.period, day),
        }
    }
}

/// The local date on which period `index` begins.
fn index_start(period: Period, index: i64) -> NaiveDate {
    let day = match period {
        Period::Day => index,
        Period::Week => index * 7 - 3,
        Period::Month => days_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1),
        Period::Year => days_from_civil(index, 1, 1),
    };
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| {
            if day >= 0 {
                e.checked_add_days(chrono::Days::new(day.unsigned_abs()))
            } else {
                e.checked_sub_days(chrono::Days::new(day.unsigned_abs()))
            }
        })
        .unwrap_or(NaiveDate::MIN)
}

fn check_ts(ts: i64) -> Result<i64, RetentionError> {
    if (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&ts) {
        Ok(ts)
    } else {
        Err(RetentionError::TimestampOutOfRange { value: ts })
    }
}

/// Accumulates rows keyed by period index.
struct Rows {
    periods: usize,
    rows: BTreeMap<i64, (u64, Vec<u64>)>,
}

impl Rows {
    fn new(periods: usize) -> Self {
        Self {
            periods,
            rows: BTreeMap::new(),
        }
    }

    fn row(&mut self, cohort: i64) -> &mut (u64, Vec<u64>) {
        let n = self.periods;
        self.rows.entry(cohort).or_insert_with(|| (0, vec![0; n]))
    }

    fn mark(&mut self, cohort: i64, k: i64) {
        let row = self.row(cohort);
        if k == 0 {
            row.0 += 1;
        }
        if let Some(cell) = usize::try_from(k).ok().and_then(|k| row.1.get_mut(k)) {
            *cell += 1;
        }
    }

    fn finish(self, spec: RetentionSpec, last_index: Option<i64>) -> RetentionMatrix {
        let mut cohorts = Vec::with_capacity(self.rows.len());
        let mut cohort_index = Vec::with_capacity(self.rows.len());
        for (idx, (size, retained)) in self.rows {
            cohort_index.push(idx);
            cohorts.push(Cohort {
                start: index_start(spec.period, idx),
                size,
                retained,
            });
        }
        RetentionMatrix {
            spec,
            cohorts,
            cohort_index,
            last_index,
        }
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
/// visits: calendar first-time cohorts of up to 256 periods take two linear passes and one
/// bit per patient and period; other specs sort (patient, time) pairs.
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
        && spec.window == Window::Calendar
        && spec.periods <= BITMASK_MAX_PERIODS
        && max_index <= patients.len().saturating_mul(4).saturating_add(1024)
    {
        bitmask_path(patients, unix_seconds, spec, cal)
    } else {
        sort_path(patients, unix_seconds, spec, cal)
    }
}

fn bitmask_path(
    patients: &[u32],
    unix_seconds: &[i64],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    let n_patients = patients.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
    let mut bucketer = Bucketer::new(spec.period, cal, unix_seconds.first().copied());
    let mut last = i32::MIN;
    let periods = spec.periods as usize;
    if periods <= 64 {
        // One pass, one cache line per patient: the mask is kept relative to the earliest
        // period seen so far and shifted when an earlier one turns up. Bits shifted past the
        // last column can never come back (the first period only moves earlier), so
        // dropping them is exact. Random patient order makes this memory-bound: one miss a
        // visit instead of three for two passes over two arrays.
        let keep = if periods == 64 {
            u64::MAX
        } else {
            (1u64 << periods) - 1
        };
        let mut slots = vec![(i32::MAX, 0u64); n_patients];
        for (&p, &ts) in patients.iter().zip(unix_seconds) {
            // Period indices fit an i32: 1900..=9999 is under 3 million days.
            let b = bucketer.index(check_ts(ts)?) as i32;
            last = last.max(b);
            let Some((first, mask)) = slots.get_mut(p as usize) else {
                continue;
            };
            if b < *first {
                let shift = (i64::from(*first) - i64::from(b)) as u64;
                *mask = if shift >= 64 {
                    0
                } else {
                    (*mask << shift) & keep
                };
                *first = b;
            }
            let k = (i64::from(b) - i64::from(*first)) as u64;
            if k < periods as u64 {
                *mask |= 1 << k;
            }
        }
        let rows = aggregate(
            slots.iter().map(|(f, m)| (*f, std::slice::from_ref(m))),
            periods,
        );
        return Ok(rows.finish(*spec, (last != i32::MIN).then_some(i64::from(last))));
    }
    let mut first = vec![i32::MAX; n_patients];
    for (&p, &ts) in patients.iter().zip(unix_seconds) {
        let b = bucketer.index(check_ts(ts)?) as i32;
        last = last.max(b);
        if let Some(f) = first.get_mut(p as usize) {
            *f = (*f).min(b);
        }
    }
    let words = periods.div_ceil(64);
    let mut masks = vec![0u64; n_patients * words];
    // The second pass recomputes the (cached) index rather than keeping one per visit.
    for (&p, &ts) in patients.iter().zip(unix_seconds) {
        let b = bucketer.index(ts) as i32;
        let p = p as usize;
        let Some(&f) = first.get(p) else { continue };
        // b ≥ f by construction of `first`.
        let k = (i64::from(b) - i64::from(f)) as u64;
        if k < periods as u64 {
            if let Some(w) = masks.get_mut(p * words + (k / 64) as usize) {
                *w |= 1 << (k % 64);
            }
        }
    }
    let rows = aggregate(first.iter().copied().zip(masks.chunks(words)), periods);
    Ok(rows.finish(*spec, (last != i32::MIN).then_some(i64::from(last))))
}

/// Sums per-patient (first period, bit mask) pairs into cohort rows; `i32::MAX` marks an
/// index with no visit.
fn aggregate<'a, I>(patients: I, periods: usize) -> Rows
where
    I: Iterator<Item = (i32, &'a [u64])> + Clone,
{
    let mut rows = Rows::new(periods);
    // Cohorts cluster in a narrow range; a dense table avoids a map lookup per patient.
    let (lo, hi) = patients
        .clone()
        .filter(|&(f, _)| f != i32::MAX)
        .fold((i32::MAX, i32::MIN), |(lo, hi), (f, _)| {
            (lo.min(f), hi.max(f))
        });
    if lo > hi {
        return rows;
    }
    let span = (i64::from(hi) - i64::from(lo) + 1) as usize;
    let stride = periods + 1;
    if span.saturating_mul(stride) <= 1 << 24 {
        let mut table = vec![0u64; span * stride];
        for (f, mask) in patients.filter(|&(f, _)| f != i32::MAX) {
            let base = (f - lo) as usize * stride;
            if let Some(row) = table.get_mut(base..base + stride) {
                count_bits(mask, row);
            }
        }
        for (c, row) in table.chunks(stride).enumerate() {
            if let Some((&size, retained)) = row.split_first() {
                if size > 0 {
                    rows.rows
                        .insert(i64::from(lo) + c as i64, (size, retained.to_vec()));
                }
            }
        }
    } else {
        let mut scratch = vec![0u64; stride];
        for (f, mask) in patients.filter(|&(f, _)| f != i32::MAX) {
            scratch.iter_mut().for_each(|x| *x = 0);
            count_bits(mask, &mut scratch);
            let row = rows.row(i64::from(f));
            row.0 += 1;
            for (r, s) in row.1.iter_mut().zip(scratch.iter().skip(1)) {
                *r += s;
            }
        }
    }
    rows
}

/// Adds one patient's bits to a row laid out as `[size, retained[0], retained[1], …]`.
fn count_bits(mask: &[u64], row: &mut [u64]) {
    if let Some(size) = row.first_mut() {
        *size += 1;
    }
    for (w, &word) in mask.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let k = w * 64 + bits.trailing_zeros() as usize;
            if let Some(cell) = row.get_mut(k + 1) {
                *cell += 1;
            }
            bits &= bits - 1;
        }
    }
}

fn sort_path(
    patients: &[u32],
    unix_seconds: &[i64],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    let mut pairs = Vec::with_capacity(patients.len());
    let mut last = None::<i64>;
    let mut bucketer = Bucketer::new(spec.period, cal, unix_seconds.first().copied());
    for (&p, &ts) in patients.iter().zip(unix_seconds) {
        let ts = check_ts(ts)?;
        let b = bucketer.index(ts);
        last = Some(last.map_or(b, |l| l.max(b)));
        let value = match spec.window {
            Window::Calendar => b,
            Window::Rolling => ts,
        };
        pairs.push((p, value));
    }
    pairs.sort_unstable();
    pairs.dedup();
    let n = i64::from(spec.periods);
    let len = rolling_len(spec.period).unwrap_or(SECONDS_PER_DAY);
    let mut rows = Rows::new(spec.periods as usize);
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let values: Vec<i64> = group.iter().map(|&(_, v)| v).collect();
        match (spec.cohorts, spec.window) {
            (CohortKind::FirstTime, Window::Calendar) => {
                let c = values.first().copied().unwrap_or(0);
                for &v in values.iter().take_while(|&&v| v - c < n) {
                    rows.mark(c, v - c);
                }
            }
            (CohortKind::Recurring, Window::Calendar) => {
                for (i, &c) in values.iter().enumerate() {
                    for &v in values[i..].iter().take_while(|&&v| v - c < n) {
                        rows.mark(c, v - c);
                    }
                }
            }
            (cohorts, Window::Rolling) => {
                let mut prev_cohort = None;
                for (i, &anchor) in values.iter().enumerate() {
                    let c = bucketer.index(anchor);
                    if prev_cohort == Some(c) {
                        continue;
                    }
                    prev_cohort = Some(c);
                    let mut prev_k = -1;
                    for &t in &values[i..] {
                        let k = (t - anchor) / len;
                        if k >= n {
                            break;
                        }
                        if k != prev_k {
                            rows.mark(c, k);
                            prev_k = k;
                        }
                    }
                    if cohorts == CohortKind::FirstTime {
                        break;
                    }
                }
            }
        }
    }
    Ok(rows.finish(*spec, last))
}

#[cfg(test)]
mod tests {
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
        let rolling = cal.with_window(Window::Rolling).unwrap();
        let m = retention_indexed(&p, &t, &rolling, ClinicCalendar::CHINA).unwrap();
        assert_eq!(m.cohorts()[0].retained, vec![1, 0]);
        assert_eq!(m.cohorts()[0].start.to_string(), "2026-03-02");
        assert!(matches!(
            RetentionSpec::new(Period::Month, 2)
                .unwrap()
                .with_window(Window::Rolling),
            Err(RetentionError::RollingNeedsFixedLength { .. })
        ));
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
