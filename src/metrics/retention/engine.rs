//! The computation behind [`retention_indexed`](super::retention_indexed): integer period
//! indices in the clinic calendar, the bit-mask path for first-time calendar cohorts and the
//! sorting path for everything else.

use chrono::NaiveDate;
use std::collections::BTreeMap;

use super::{
    Cohort, CohortKind, RetentionError, RetentionMatrix, RetentionSpec, RetentionWindow,
    rolling_len,
};
use super::{MAX_UNIX_SECONDS, MIN_UNIX_SECONDS};
use crate::calendar::{
    ClinicCalendar, Period, SECONDS_PER_DAY, civil_from_days, date_of_day_number, days_from_civil,
};

/// The integer index of the calendar period holding a local day number: the day itself,
/// the Monday-based week (1970-01-01 was a Thursday, so Monday 1969-12-29 starts week 0),
/// `year × 12 + month − 1`, or the year.
pub(super) fn period_index(period: Period, day: i64) -> i64 {
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
pub(super) struct Bucketer {
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
pub(super) fn index_start(period: Period, index: i64) -> NaiveDate {
    let day = match period {
        Period::Day => index,
        Period::Week => index * 7 - 3,
        Period::Month => days_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1),
        Period::Year => days_from_civil(index, 1, 1),
    };
    date_of_day_number(day)
}

pub(super) fn check_ts(ts: i64) -> Result<i64, RetentionError> {
    if (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&ts) {
        Ok(ts)
    } else {
        Err(RetentionError::TimestampOutOfRange { value: ts })
    }
}

/// Accumulates rows keyed by period index.
pub(super) struct Rows {
    periods: usize,
    rows: BTreeMap<i64, (u64, Vec<u64>)>,
    /// Cohorts `lo..lo + span` as rows of `[size, retained…]` in one table, when the range is
    /// known and small: a map lookup per mark was most of the sorting path's time.
    dense: Option<(i64, Vec<u64>)>,
}

impl Rows {
    pub(super) fn new(periods: usize) -> Self {
        Self {
            periods,
            rows: BTreeMap::new(),
            dense: None,
        }
    }

    /// Rows for cohorts known to lie in `lo..=hi`.
    fn with_range(periods: usize, lo: i64, hi: i64) -> Self {
        let mut rows = Self::new(periods);
        let span = usize::try_from(hi.saturating_sub(lo).saturating_add(1)).unwrap_or(0);
        if lo <= hi && span.saturating_mul(periods + 1) <= 1 << 24 {
            rows.dense = Some((lo, vec![0; span * (periods + 1)]));
        }
        rows
    }

    pub(super) fn row(&mut self, cohort: i64) -> &mut (u64, Vec<u64>) {
        let n = self.periods;
        self.rows.entry(cohort).or_insert_with(|| (0, vec![0; n]))
    }

    fn mark(&mut self, cohort: i64, k: i64) {
        let stride = self.periods + 1;
        if let Some((lo, table)) = &mut self.dense {
            let at = usize::try_from(cohort - *lo)
                .ok()
                .and_then(|c| c.checked_mul(stride));
            if let (Some(at), Ok(k)) = (at, usize::try_from(k))
                && let Some(row) = table.get_mut(at..at + stride)
            {
                if k == 0 {
                    row[0] += 1;
                }
                if let Some(cell) = row.get_mut(k + 1) {
                    *cell += 1;
                }
                return;
            }
        }
        let row = self.row(cohort);
        if k == 0 {
            row.0 += 1;
        }
        if let Some(cell) = usize::try_from(k).ok().and_then(|k| row.1.get_mut(k)) {
            *cell += 1;
        }
    }

    pub(super) fn finish(
        mut self,
        spec: RetentionSpec,
        last_index: Option<i64>,
    ) -> RetentionMatrix {
        if let Some((lo, table)) = self.dense.take() {
            for (c, row) in table.chunks(self.periods + 1).enumerate() {
                if let Some((&size, retained)) = row.split_first()
                    && size > 0
                {
                    self.rows.insert(lo + c as i64, (size, retained.to_vec()));
                }
            }
        }
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

pub(super) fn bitmask_path(
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
        if k < periods as u64
            && let Some(w) = masks.get_mut(p * words + (k / 64) as usize)
        {
            *w |= 1 << (k % 64);
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
            if let Some((&size, retained)) = row.split_first()
                && size > 0
            {
                rows.rows
                    .insert(i64::from(lo) + c as i64, (size, retained.to_vec()));
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

pub(super) fn sort_path(
    patients: &[u32],
    unix_seconds: &[i64],
    spec: &RetentionSpec,
    cal: ClinicCalendar,
) -> Result<RetentionMatrix, RetentionError> {
    let mut values = Vec::with_capacity(patients.len());
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut bucketer = Bucketer::new(spec.period, cal, unix_seconds.first().copied());
    for &ts in unix_seconds {
        let ts = check_ts(ts)?;
        let b = bucketer.index(ts);
        lo = lo.min(b);
        hi = hi.max(b);
        values.push(match spec.window {
            RetentionWindow::Calendar => b,
            RetentionWindow::Rolling => ts,
        });
    }
    let last = (lo <= hi).then_some(hi);
    let mut rows = Rows::with_range(spec.periods as usize, lo, hi);
    let mut scratch = Vec::new();
    let max_index = patients.iter().max().map_or(0, |&p| p as usize);
    if max_index <= patients.len().saturating_mul(4).saturating_add(1024) {
        // Dense indices: a counting sort by patient, then each patient's few values sorted.
        let mut starts = vec![0usize; max_index + 2];
        for &p in patients {
            if let Some(s) = starts.get_mut(p as usize + 1) {
                *s += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut grouped = vec![0i64; values.len()];
        for (&p, &v) in patients.iter().zip(&values) {
            if let Some(at) = next.get_mut(p as usize) {
                if let Some(slot) = grouped.get_mut(*at) {
                    *slot = v;
                }
                *at += 1;
            }
        }
        for w in starts.windows(2) {
            let Some(group) = grouped.get(w[0]..w[1]) else {
                continue;
            };
            if group.is_empty() {
                continue;
            }
            scratch.clear();
            scratch.extend_from_slice(group);
            scratch.sort_unstable();
            scratch.dedup();
            patient_marks(&scratch, spec, &mut bucketer, &mut rows);
        }
    } else {
        let mut pairs: Vec<(u32, i64)> = patients.iter().copied().zip(values).collect();
        pairs.sort_unstable();
        pairs.dedup();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            scratch.clear();
            scratch.extend(group.iter().map(|&(_, v)| v));
            patient_marks(&scratch, spec, &mut bucketer, &mut rows);
        }
    }
    Ok(rows.finish(*spec, last))
}

/// Marks one patient's cells. `values` are the patient's distinct period indices (calendar)
/// or instants (rolling), ascending.
fn patient_marks(values: &[i64], spec: &RetentionSpec, bucketer: &mut Bucketer, rows: &mut Rows) {
    let n = i64::from(spec.periods);
    let len = rolling_len(spec.period).unwrap_or(SECONDS_PER_DAY);
    match (spec.cohorts, spec.window) {
        (CohortKind::FirstTime, RetentionWindow::Calendar) => {
            let c = values.first().copied().unwrap_or(0);
            for &v in values.iter().take_while(|&&v| v - c < n) {
                rows.mark(c, v - c);
            }
        }
        (CohortKind::Recurring, RetentionWindow::Calendar) => {
            for (i, &c) in values.iter().enumerate() {
                for &v in values[i..].iter().take_while(|&&v| v - c < n) {
                    rows.mark(c, v - c);
                }
            }
        }
        (cohorts, RetentionWindow::Rolling) => {
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
