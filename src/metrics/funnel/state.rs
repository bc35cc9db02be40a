//! The exact, mergeable state of a funnel over a set of patients.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::FunnelError;
use super::scan::{Reach, ScanParams};
use super::spec::{Breakdown, FunnelMode, Window};

/// Counts for one group of patients (all of them, or one breakdown value).
///
/// Everything is exact: patients per final level, patients who did each optional step, and
/// every time-to-convert sample per step, kept sorted so that equal groups compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    by_level: Vec<u64>,
    optional_hits: Vec<u64>,
    seconds: Vec<Vec<u32>>,
}

impl Tally {
    pub(crate) fn new(n: usize) -> Self {
        Tally {
            by_level: vec![0; n + 1],
            optional_hits: vec![0; n],
            seconds: vec![Vec::new(); n],
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
    pub fn seconds(&self) -> &[Vec<u32>] {
        &self.seconds
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

    /// Adds another group's counts and appends its samples unsorted; the caller sorts with
    /// [`sort_samples`] before anyone reads them.
    pub(crate) fn absorb(&mut self, other: Tally) {
        for (a, b) in self.by_level.iter_mut().zip(&other.by_level) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.optional_hits.iter_mut().zip(&other.optional_hits) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.seconds.iter_mut().zip(other.seconds) {
            if a.is_empty() {
                *a = b;
            } else {
                a.extend_from_slice(&b);
            }
        }
    }

    /// Room for `n` samples per step, so collecting them never reallocates (and never
    /// touches fresh pages twice).
    pub(crate) fn reserve_samples(&mut self, n: usize) {
        for v in self.seconds.iter_mut().skip(1) {
            v.reserve(n);
        }
    }

    pub(crate) fn samples_mut(&mut self) -> impl Iterator<Item = &mut Vec<u32>> {
        self.seconds.iter_mut()
    }

    fn merge(&mut self, other: &Tally) {
        for (a, b) in self.by_level.iter_mut().zip(&other.by_level) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.optional_hits.iter_mut().zip(&other.optional_hits) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.seconds.iter_mut().zip(&other.seconds) {
            *a = merge_sorted(a, b);
        }
    }
}

/// Sorts sample vectors in place.
pub(crate) fn sort_samples<'a>(vs: impl IntoIterator<Item = &'a mut Vec<u32>>) {
    let mut scratch = Vec::new();
    for v in vs {
        radix_sort(v, &mut scratch);
    }
}

/// LSD radix sort with 11-bit digits: samples are bounded by the window, so a few linear
/// passes replace an `n log n` comparison sort over millions of samples. One sweep counts
/// all three digits; a digit every sample shares is skipped, so a 30-day window costs three
/// sweeps in all.
fn radix_sort(v: &mut Vec<u32>, scratch: &mut Vec<u32>) {
    if v.len() < 512 {
        v.sort_unstable();
        return;
    }
    let mut counts = [[0usize; 2048]; 3];
    for &x in v.iter() {
        counts[0][(x & 2047) as usize] += 1;
        counts[1][((x >> 11) & 2047) as usize] += 1;
        counts[2][(x >> 22) as usize & 2047] += 1;
    }
    for (d, c) in counts.iter_mut().enumerate() {
        let shift = 11 * d as u32;
        if c.contains(&v.len()) {
            continue;
        }
        let mut acc = 0;
        for slot in c.iter_mut() {
            let n = *slot;
            *slot = acc;
            acc += n;
        }
        // Every slot is written below, so only growth needs filling: no zeroing pass.
        scratch.resize(v.len(), 0);
        for &x in v.iter() {
            let pos = &mut c[((x >> shift) & 2047) as usize];
            if let Some(out) = scratch.get_mut(*pos) {
                *out = x;
            }
            *pos += 1;
        }
        std::mem::swap(v, scratch);
    }
}

fn merge_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    if b.is_empty() {
        return a.to_vec();
    }
    if a.is_empty() {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    // Branch-free: which side wins is a coin flip the predictor cannot learn.
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        let take_a = x <= y;
        out.push(if take_a { x } else { y });
        i += usize::from(take_a);
        j += usize::from(!take_a);
    }
    out.extend_from_slice(a.get(i..).unwrap_or(&[]));
    out.extend_from_slice(b.get(j..).unwrap_or(&[]));
    out
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

    #[test]
    fn radix_sort_sorts() {
        let mut x: u32 = 12345;
        let mut v: Vec<u32> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        radix_sort(&mut v, &mut Vec::new());
        assert_eq!(v, want);
    }

    /// One scratch buffer serves vectors longer and shorter than the last, with digits
    /// skipped or not: stale scratch contents never leak into a result.
    #[test]
    fn sort_samples_reuses_scratch_across_sizes() {
        let mut x: u32 = 777;
        let mut next = move |m: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % m
        };
        let mut vs: Vec<Vec<u32>> = [(5000, u32::MAX), (700, 2048), (9000, 1 << 22), (600, 9)]
            .iter()
            .map(|&(n, m)| (0..n).map(|_| next(m)).collect())
            .collect();
        let want: Vec<Vec<u32>> = vs
            .iter()
            .map(|v| {
                let mut w = v.clone();
                w.sort_unstable();
                w
            })
            .collect();
        sort_samples(vs.iter_mut());
        assert_eq!(vs, want);
    }

    #[test]
    fn merge_sorted_is_a_merge() {
        assert_eq!(
            merge_sorted(&[1, 4, 9], &[0, 4, 10]),
            vec![0, 1, 4, 4, 9, 10]
        );
        assert_eq!(merge_sorted(&[], &[2]), vec![2]);
        assert_eq!(merge_sorted(&[3], &[]), vec![3]);
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
