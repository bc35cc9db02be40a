//! The exact, mergeable state of a funnel over a set of patients.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::FunnelError;
use super::samples::Samples;
use super::scan::{Reach, ScanParams};
use super::spec::{Breakdown, FunnelMode, Window};

/// Counts for one group of patients (all of them, or one breakdown value).
///
/// Everything is exact: patients per final level, patients who did each optional step, and
/// every time-to-convert sample per step. The samples of a step are a multiset: kept in
/// the order they were collected (which depends on how the work was split), and compared
/// and serialized in ascending order, so that equal groups compare and serialize equal.
/// Keeping them unsorted saves the compute a sort of millions of samples; the report needs
/// only a median and a histogram, which a few linear passes give.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    by_level: Vec<u64>,
    optional_hits: Vec<u64>,
    seconds: Vec<Samples>,
}

impl Tally {
    pub(crate) fn new(n: usize) -> Self {
        Tally {
            by_level: vec![0; n + 1],
            optional_hits: vec![0; n],
            seconds: vec![Samples::default(); n],
        }
    }

    /// Patients per final level: entry `k` counts patients whose level is exactly `k`.
    pub fn by_level(&self) -> &[u64] {
        &self.by_level
    }

    /// Patients who did each optional step in their chain (0 for required steps).
    pub fn optional_hits(&self) -> &[u64] {
        &self.optional_hits
    }

    /// Time-to-convert samples per step in seconds, ascending (empty for step 1).
    ///
    /// A sorted copy: the tally keeps them in no particular order
    /// ([`samples`](Tally::samples) reads them as they are).
    pub fn seconds(&self) -> Vec<Vec<u32>> {
        self.seconds.iter().map(Samples::sorted).collect()
    }

    /// The time-to-convert samples of step `index + 1` in seconds, in no particular order
    /// (none for the first step and past the last).
    pub fn samples(&self, index: usize) -> impl Iterator<Item = u32> + '_ {
        self.step_samples(index).flat_map(|c| c.iter().copied())
    }

    /// [`samples`](Tally::samples) as the slices they are kept in.
    pub(crate) fn step_samples(&self, index: usize) -> impl Iterator<Item = &[u32]> {
        self.seconds
            .get(index)
            .into_iter()
            .flat_map(Samples::chunks)
    }

    /// Patients at each step: level ≥ k for a required step, those who did it for an
    /// optional one.
    pub fn step_patients(&self, optional: u64) -> Vec<u64> {
        let n = self.optional_hits.len();
        let mut at_least = vec![0u64; n + 1];
        let mut acc = 0u64;
        for k in (1..=n).rev() {
            acc = acc.saturating_add(self.by_level.get(k).copied().unwrap_or(0));
            at_least[k] = acc;
        }
        (1..=n)
            .map(|k| {
                if optional & (1 << k) != 0 {
                    self.optional_hits.get(k - 1).copied().unwrap_or(0)
                } else {
                    at_least[k]
                }
            })
            .collect()
    }

    pub(crate) fn add_level0(&mut self, patients: u64) {
        if let Some(c) = self.by_level.first_mut() {
            *c += patients;
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, r: &Reach, p: &ScanParams) {
        let level = r.level();
        if let Some(c) = self.by_level.get_mut(level) {
            *c += 1;
        }
        if level < 2 && p.optional == 0 {
            return;
        }
        let mut bits = r.set & !3;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let (Some(v), Some(at), Some(st)) =
                (self.seconds.get_mut(k - 1), r.at.get(k), r.start.get(k))
            {
                // at - start <= window <= u32::MAX by construction of the scan.
                v.push(u32::try_from(at.saturating_sub(*st)).unwrap_or(u32::MAX));
            }
            if p.optional & (1 << k) != 0
                && let Some(h) = self.optional_hits.get_mut(k - 1)
            {
                *h += 1;
            }
        }
    }

    /// Adds another group's counts and samples, taking ownership (samples move by chunk).
    pub(crate) fn absorb(&mut self, other: Tally) {
        for (a, b) in self.by_level.iter_mut().zip(&other.by_level) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.optional_hits.iter_mut().zip(&other.optional_hits) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.seconds.iter_mut().zip(other.seconds) {
            a.absorb(b);
        }
    }

    fn merge(&mut self, other: &Tally) {
        for (a, b) in self.by_level.iter_mut().zip(&other.by_level) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.optional_hits.iter_mut().zip(&other.optional_hits) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.seconds.iter_mut().zip(&other.seconds) {
            a.extend_from(b);
        }
    }
}

/// A breakdown group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakdownKey {
    /// Patients attributed to this value: a channel code, or a doctor or clinic id.
    Value(u64),
    /// Patients with no value: level 0, no value on the attributed event, or (for
    /// `Attribution::Step(n)`) not reaching step n.
    Unattributed,
}

/// The exact result of a funnel over a set of patients. Two states over disjoint sets of
/// patients [`merge`](FunnelState::merge) into exactly the state of the union, in any order
/// and grouping; [`report`](FunnelState::report) turns a state into rates and medians.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelState {
    pub(crate) steps: usize,
    pub(crate) mode: FunnelMode,
    pub(crate) window: Window,
    pub(crate) optional: u64,
    pub(crate) breakdown: Option<Breakdown>,
    pub(crate) patients: u64,
    pub(crate) excluded: u64,
    pub(crate) total: Tally,
    pub(crate) by_value: BTreeMap<BreakdownKey, Tally>,
}

impl FunnelState {
    /// The empty state of a funnel (no patients).
    pub fn empty(spec: &super::FunnelSpec) -> Self {
        FunnelState {
            steps: spec.steps().len(),
            mode: spec.mode(),
            window: spec.window(),
            optional: spec.optional_mask(),
            breakdown: spec.breakdown(),
            patients: 0,
            excluded: 0,
            total: Tally::new(spec.steps().len()),
            by_value: BTreeMap::new(),
        }
    }

    /// Every patient in the set, whatever their level, excluded ones included.
    pub fn patients(&self) -> u64 {
        self.patients
    }

    /// Patients dropped by an exclusion step.
    pub fn excluded(&self) -> u64 {
        self.excluded
    }

    /// The counts over all patients that were not excluded.
    pub fn total(&self) -> &Tally {
        &self.total
    }

    /// The counts per breakdown value (empty without a breakdown).
    pub fn by_value(&self) -> &BTreeMap<BreakdownKey, Tally> {
        &self.by_value
    }

    /// Patients at each step (level ≥ k), over all patients that were not excluded.
    pub fn step_patients(&self) -> Vec<u64> {
        self.total.step_patients(self.optional)
    }

    /// Adds the state of a disjoint set of patients.
    ///
    /// Exact, associative and commutative: merging partial states computed on any split of
    /// the patients (never of one patient's events) gives the state of the whole.
    ///
    /// # Errors
    ///
    /// [`FunnelError::MergeMismatch`] when the two states come from different funnels.
    pub fn merge(&mut self, other: &FunnelState) -> Result<(), FunnelError> {
        if self.steps != other.steps
            || self.mode != other.mode
            || self.window != other.window
            || self.optional != other.optional
            || self.breakdown != other.breakdown
        {
            return Err(FunnelError::MergeMismatch);
        }
        self.patients = self.patients.saturating_add(other.patients);
        self.excluded = self.excluded.saturating_add(other.excluded);
        self.total.merge(&other.total);
        for (k, t) in &other.by_value {
            self.by_value
                .entry(*k)
                .or_insert_with(|| Tally::new(self.steps))
                .merge(t);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples are a multiset: equality and serialization ignore their order, and not
    /// their multiplicity.
    #[test]
    fn samples_compare_and_serialize_as_multisets() {
        let mut a = Tally::new(2);
        let mut b = Tally::new(2);
        a.seconds[1] = Samples::from(vec![5, 1, 5, 3]);
        b.seconds[1] = Samples::from(vec![3, 5, 1, 5]);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap_or_default(),
            serde_json::to_string(&b).unwrap_or_default()
        );
        assert!(
            serde_json::to_string(&a)
                .unwrap_or_default()
                .contains("[[],[1,3,5,5]]")
        );
        assert_eq!(a.seconds(), vec![vec![], vec![1, 3, 5, 5]]);
        b.seconds[1] = Samples::from(vec![3, 5, 1, 1]);
        assert_ne!(a, b);
        b.seconds[1] = Samples::from(vec![3, 5, 1]);
        assert_ne!(a, b);
    }

    #[test]
    fn step_patients_are_suffix_sums() {
        let mut t = Tally::new(3);
        t.by_level = vec![5, 4, 3, 2];
        assert_eq!(t.step_patients(0), vec![9, 5, 2]);
        t.optional_hits = vec![0, 1, 0];
        assert_eq!(t.step_patients(1 << 2), vec![9, 1, 2]);
    }
}
