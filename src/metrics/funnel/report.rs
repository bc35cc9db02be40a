//! From an exact state to what a clinic manager reads: conversion rates, drop-off, time to
//! convert with PostHog's histogram.

use serde::{Deserialize, Serialize};

use super::FunnelSpec;
use super::par::fan_out;
use super::spec::FunnelMode;
use super::state::{BreakdownKey, FunnelState, Tally};
use super::summary::{Summary, summarize};

/// One bar of a time-to-convert histogram: samples in `from_seconds .. to_seconds` (the last
/// bar also holds its upper edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBin {
    /// Lower edge, inclusive.
    pub from_seconds: u64,
    /// Upper edge, exclusive except for the last bar.
    pub to_seconds: u64,
    /// Patients in the bar.
    pub patients: u64,
}

/// One step of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based step number.
    pub step: usize,
    /// The step's label.
    pub label: String,
    /// Whether the step is optional.
    pub optional: bool,
    /// Patients at this step (funnel level ≥ step).
    pub patients: u64,
    /// `patients / previous step's patients`; 1.0 for a first step with patients, 0 when the
    /// previous step has none.
    pub conversion_from_previous: f64,
    /// `patients / first step's patients`, 0 when the first step has none.
    pub conversion_from_first: f64,
    /// Patients lost since the previous step; for step 1, the patients with level 0.
    pub drop_off: u64,
    /// Median seconds from the chain's step-1 event to this step (the mean of the two middle
    /// samples for an even count); `None` for step 1 or without samples.
    pub median_seconds_to_convert: Option<f64>,
    /// Mean of the same samples.
    pub mean_seconds_to_convert: Option<f64>,
    /// PostHog's histogram of the same samples: `clamp(ceil(cbrt(n)), 1, 60)` bars of equal
    /// whole-second width `max(1, ceil((max - min) / bars))` from the smallest sample.
    pub histogram: Vec<HistogramBin>,
}

/// A breakdown row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakdownBucket {
    /// One value (channel code, doctor or clinic id).
    Value(u64),
    /// Every value beyond the report's limit, together.
    Other,
    /// Patients without a value.
    Unattributed,
}

/// The steps of one breakdown row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownReport {
    /// Which value.
    pub value: BreakdownBucket,
    /// Its steps.
    pub steps: Vec<StepReport>,
}

/// A funnel report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct FunnelReport {
    /// The mode.
    pub mode: FunnelMode,
    /// The window in seconds.
    pub window_seconds: u32,
    /// Every patient in the set, excluded ones included.
    pub patients: u64,
    /// Patients dropped by an exclusion.
    pub excluded: u64,
    /// The steps.
    pub steps: Vec<StepReport>,
    /// Breakdown rows: values by first-step patients (most first, then by value), then
    /// `Other`, then `Unattributed`; empty without a breakdown.
    pub breakdown: Vec<BreakdownReport>,
}

/// PostHog's bin count: `clamp(ceil(cbrt(n)), 1, 60)`.
#[must_use]
pub fn histogram_bins(samples: usize) -> usize {
    (1..=60usize)
        .find(|b| b.saturating_mul(*b).saturating_mul(*b) >= samples)
        .unwrap_or(60)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn steps_of(
    spec: &FunnelSpec,
    t: &Tally,
    optional: u64,
    summaries: Vec<Summary>,
) -> Vec<StepReport> {
    let counts = t.step_patients(optional);
    let first = counts.first().copied().unwrap_or(0);
    let not_reached = t.by_level().first().copied().unwrap_or(0);
    spec.steps()
        .iter()
        .zip(summaries)
        .enumerate()
        .map(|(i, (s, summary))| {
            let patients = counts.get(i).copied().unwrap_or(0);
            let (prev, drop_off) = match i.checked_sub(1).and_then(|j| counts.get(j)) {
                Some(&prev) => (ratio(patients, prev), prev.saturating_sub(patients)),
                None => (if patients > 0 { 1.0 } else { 0.0 }, not_reached),
            };
            StepReport {
                step: i + 1,
                label: s.label.clone(),
                optional: s.optional,
                patients,
                conversion_from_previous: prev,
                conversion_from_first: if i == 0 {
                    if patients > 0 { 1.0 } else { 0.0 }
                } else {
                    ratio(patients, first)
                },
                drop_off,
                median_seconds_to_convert: summary.median,
                mean_seconds_to_convert: summary.mean,
                histogram: summary.histogram,
            }
        })
        .collect()
}

/// The time-to-convert summary of every step of every group, the (group, step) jobs dealt
/// to `threads` workers by sample count, largest first.
fn summaries(groups: &[&Tally], steps: usize, threads: usize) -> Vec<Vec<Summary>> {
    let mut jobs: Vec<(usize, usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, t)| {
            (0..steps).map(move |s| (g, s, t.step_samples(s).map(<[u32]>::len).sum()))
        })
        .collect();
    jobs.sort_by_key(|&(g, s, n)| (std::cmp::Reverse(n), g, s));
    let mut workers: Vec<(usize, Vec<(usize, usize)>)> =
        (0..threads.max(1)).map(|_| (0, Vec::new())).collect();
    for (g, s, n) in jobs {
        if let Some(w) = workers.iter_mut().min_by_key(|w| w.0) {
            w.0 += n;
            w.1.push((g, s));
        }
    }
    let done = fan_out(workers.len(), |w| {
        workers.get(w).map_or(Vec::new(), |(_, jobs)| {
            jobs.iter()
                .map(|&(g, s)| {
                    let parts: Vec<&[u32]> = groups
                        .get(g)
                        .map_or(Vec::new(), |t| t.step_samples(s).collect());
                    (g, s, summarize(&parts))
                })
                .collect()
        })
    });
    // Every (group, step) is one job, so each slot below is overwritten exactly once.
    let mut out: Vec<Vec<Summary>> = groups
        .iter()
        .map(|_| (0..steps).map(|_| summarize(&[])).collect())
        .collect();
    for (g, s, summary) in done.into_iter().flatten() {
        if let Some(slot) = out.get_mut(g).and_then(|v| v.get_mut(s)) {
            *slot = summary;
        }
    }
    out
}

impl FunnelState {
    /// The report of this state, labelled by `spec` (the funnel it was computed with).
    ///
    /// With a breakdown, the `max_values` values with the most first-step patients get a row
    /// each and the rest are summed, exactly, into [`BreakdownBucket::Other`].
    pub fn report(&self, spec: &FunnelSpec, max_values: usize) -> FunnelReport {
        self.report_with(spec, max_values, 1)
    }

    /// [`report`](FunnelState::report), with the time-to-convert summaries (linear passes
    /// over every sample) shared among `threads` workers as
    /// [`FunnelSpec::compute_columns`] shares a compute. The report is the same for any
    /// number of threads.
    pub fn report_with(
        &self,
        spec: &FunnelSpec,
        max_values: usize,
        threads: usize,
    ) -> FunnelReport {
        let mut values: Vec<(u64, u64, &Tally)> = self
            .by_value
            .iter()
            .filter_map(|(k, t)| match k {
                BreakdownKey::Value(v) => Some((
                    t.step_patients(self.optional).first().copied().unwrap_or(0),
                    *v,
                    t,
                )),
                BreakdownKey::Unattributed => None,
            })
            .collect();
        values.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // Summed tally by tally, the state's own shape, so that a spec of another funnel
        // cannot make it fail (the rows then carry the state's counts under its labels).
        let other = (values.len() > max_values).then(|| {
            let mut other = Tally::new(self.steps);
            for (_, _, t) in values.iter().skip(max_values) {
                other.merge(t);
            }
            other
        });
        let unattributed = self.by_value.get(&BreakdownKey::Unattributed);
        // Every group in the order of the report: all patients, the top values, the rest,
        // the unattributed.
        let mut groups: Vec<(Option<BreakdownBucket>, &Tally)> = vec![(None, &self.total)];
        groups.extend(
            values
                .iter()
                .take(max_values)
                .map(|(_, v, t)| (Some(BreakdownBucket::Value(*v)), *t)),
        );
        if let Some(t) = &other {
            groups.push((Some(BreakdownBucket::Other), t));
        }
        if let Some(t) = unattributed {
            groups.push((Some(BreakdownBucket::Unattributed), t));
        }
        let tallies: Vec<&Tally> = groups.iter().map(|g| g.1).collect();
        let summaries = summaries(&tallies, spec.steps().len(), threads);
        let mut steps = Vec::new();
        let mut breakdown = Vec::new();
        for ((bucket, t), s) in groups.into_iter().zip(summaries) {
            let rows = steps_of(spec, t, self.optional, s);
            match bucket {
                None => steps = rows,
                Some(value) => breakdown.push(BreakdownReport { value, steps: rows }),
            }
        }
        FunnelReport {
            mode: self.mode,
            window_seconds: self.window.get(),
            patients: self.patients,
            excluded: self.excluded,
            steps,
            breakdown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posthog_bin_rule() {
        assert_eq!(histogram_bins(0), 1);
        assert_eq!(histogram_bins(1), 1);
        assert_eq!(histogram_bins(8), 2);
        assert_eq!(histogram_bins(9), 3);
        assert_eq!(histogram_bins(1000), 10);
        assert_eq!(histogram_bins(1001), 11);
        assert_eq!(histogram_bins(10_000_000), 60);
    }
}
