//! The exact, mergeable state of a funnel over a set of patients.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use super::FunnelError;
use super::samples::Samples;
use super::scan::{Reach, ScanParams};
use super::spec::{
    ConversionWindow, FunnelBreakdown, FunnelMode, MAX_STEPS, check_breakdown, check_optional,
    check_step_count,
};

/// Whether bit `k` of `mask` is set; `false` past bit 63 rather than a shift overflow.
fn has_bit(mask: u64, k: usize) -> bool {
    u32::try_from(k)
        .ok()
        .and_then(|k| mask.checked_shr(k))
        .is_some_and(|m| m & 1 != 0)
}

/// Counts for one group of patients (all of them, or one breakdown value).
///
/// Everything is exact: patients per final level, patients who did each optional step, and
/// every time-to-convert sample per step. The samples of a step are a multiset: kept in
/// the order they were collected (which depends on how the work was split), and compared
/// and serialized in ascending order, so that equal groups compare and serialize equal.
/// Keeping them unsorted saves the compute a sort of millions of samples; the report needs
/// only a median and a histogram, which a few linear passes give.
///
/// Deserialisation checks the shape: `n` steps (at most [`MAX_STEPS`], lists read no further
/// than that), `n + 1` levels whose sum fits a `u64`, nothing optional or timed at step 1,
/// and no step with more optional hits or samples than patients who reached it. A
/// [`FunnelState`] checks the rest against its funnel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawTally")]
pub struct Tally {
    by_level: Vec<u64>,
    optional_hits: Vec<u64>,
    seconds: Vec<Samples>,
}

/// The serde shape of [`Tally`], read with bounded lists and then checked.
#[derive(Deserialize)]
struct RawTally {
    #[serde(deserialize_with = "read_levels")]
    by_level: Vec<u64>,
    #[serde(deserialize_with = "read_hits")]
    optional_hits: Vec<u64>,
    #[serde(deserialize_with = "read_seconds")]
    seconds: Vec<Samples>,
}

/// A sequence read element by element that fails as soon as it holds more than `max`, so that
/// no declared length is trusted and nothing past the limit is read.
struct UpTo<T> {
    field: &'static str,
    max: usize,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for UpTo<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} entries", self.max)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            if v.len() == self.max {
                return Err(de::Error::custom(FunnelError::StateListTooLong {
                    field: self.field,
                    max: self.max,
                }));
            }
            v.push(x);
        }
        Ok(v)
    }
}

fn up_to<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    field: &'static str,
    max: usize,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(UpTo {
        field,
        max,
        item: PhantomData,
    })
}

fn read_levels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    up_to(d, "by_level", MAX_STEPS + 1)
}

fn read_hits<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    up_to(d, "optional_hits", MAX_STEPS)
}

fn read_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Samples>, D::Error> {
    up_to(d, "seconds", MAX_STEPS)
}

fn bad(field: String, value: impl TryInto<u64>, rule: &'static str) -> FunnelError {
    FunnelError::BadState {
        field,
        value: value.try_into().unwrap_or(u64::MAX),
        rule,
    }
}

impl TryFrom<RawTally> for Tally {
    type Error = FunnelError;
    fn try_from(r: RawTally) -> Result<Self, Self::Error> {
        let t = Tally {
            by_level: r.by_level,
            optional_hits: r.optional_hits,
            seconds: r.seconds,
        };
        t.check_shape()?;
        Ok(t)
    }
}

impl Tally {
    pub(crate) fn new(n: usize) -> Self {
        Tally {
            by_level: vec![0; n + 1],
            optional_hits: vec![0; n],
            // Built empty rather than cloned from one (`vec![x; n]`): a breakdown by post
            // makes a tally per post and worker, and the clones were half of that.
            seconds: std::iter::repeat_with(Samples::default).take(n).collect(),
        }
    }

    /// A tally of `n = optional_hits.len()` steps from its parts, as [`Tally::record`] would
    /// have built them: `n + 1` levels and `n` multisets.
    pub(super) fn from_parts(
        by_level: Vec<u64>,
        optional_hits: Vec<u64>,
        seconds: Vec<Samples>,
    ) -> Self {
        Tally {
            by_level,
            optional_hits,
            seconds,
        }
    }

    /// Patients per final level: entry `k` counts patients whose level is exactly `k`.
    #[must_use]
    pub fn by_level(&self) -> &[u64] {
        &self.by_level
    }

    /// Patients who did each optional step in their chain (0 for required steps).
    #[must_use]
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
    /// optional one (bit k of `optional` set for an optional step k).
    #[must_use]
    pub fn step_patients(&self, optional: u64) -> Vec<u64> {
        let n = self.optional_hits.len();
        let at_least = self.at_least();
        (1..=n)
            .map(|k| {
                if has_bit(optional, k) {
                    self.optional_hits.get(k - 1).copied().unwrap_or(0)
                } else {
                    at_least[k]
                }
            })
            .collect()
    }

    /// Entry k: patients with level ≥ k (entry 0 unused), `n + 1` entries.
    fn at_least(&self) -> Vec<u64> {
        let n = self.optional_hits.len();
        let mut at_least = vec![0u64; n + 1];
        let mut acc = 0u64;
        for (k, slot) in at_least.iter_mut().enumerate().skip(1).rev() {
            acc = acc.saturating_add(self.by_level.get(k).copied().unwrap_or(0));
            *slot = acc;
        }
        at_least
    }

    /// Patients in the tally: the sum of its levels, `None` past `u64::MAX`.
    fn patients(&self) -> Option<u64> {
        self.by_level
            .iter()
            .try_fold(0u64, |acc, &c| acc.checked_add(c))
    }

    /// The checks that need no funnel: see the type's docs.
    fn check_shape(&self) -> Result<(), FunnelError> {
        let n = self.optional_hits.len();
        // `Tally::default()` serialises as three empty lists; it reads back as itself.
        if n == 0 && self.by_level.is_empty() && self.seconds.is_empty() {
            return Ok(());
        }
        if n == 0 {
            return Err(bad(
                "optional_hits length".to_owned(),
                0u64,
                "a tally has at least one step",
            ));
        }
        if self.by_level.len() != n + 1 {
            return Err(bad(
                "by_level length".to_owned(),
                self.by_level.len(),
                "a tally has one level more than it has steps (optional_hits)",
            ));
        }
        if self.seconds.len() != n {
            return Err(bad(
                "seconds length".to_owned(),
                self.seconds.len(),
                "a tally has one list of samples per step (optional_hits)",
            ));
        }
        if self.patients().is_none() {
            return Err(bad(
                "by_level".to_owned(),
                u64::MAX,
                "the levels add up past u64::MAX",
            ));
        }
        let at_least = self.at_least();
        for (i, (&hits, samples)) in self.optional_hits.iter().zip(&self.seconds).enumerate() {
            // Step i + 1; step 1 is never optional and has no time to convert.
            let reached = if i == 0 {
                0
            } else {
                at_least.get(i + 1).copied().unwrap_or(0)
            };
            if hits > reached {
                return Err(bad(
                    format!("optional_hits[{i}]"),
                    hits,
                    "more patients did the step than reached it (none for step 1)",
                ));
            }
            let len = samples.len() as u64;
            if len > reached {
                return Err(bad(
                    format!("seconds[{i}] length"),
                    len,
                    "more samples than patients who reached the step (none for step 1)",
                ));
            }
        }
        Ok(())
    }

    /// The checks against the state's funnel, on a tally that passed [`Tally::check_shape`]:
    /// one entry per step, optional hits only for optional steps, one sample per patient at
    /// each step from step 2, and every sample within the window.
    fn check_against(
        &self,
        group: &str,
        steps: usize,
        optional: u64,
        window: ConversionWindow,
    ) -> Result<(), FunnelError> {
        if self.optional_hits.len() != steps {
            return Err(bad(
                format!("{group}.optional_hits length"),
                self.optional_hits.len(),
                "a tally has one entry per step of its funnel",
            ));
        }
        for (i, &hits) in self.optional_hits.iter().enumerate() {
            if hits != 0 && !has_bit(optional, i + 1) {
                return Err(bad(
                    format!("{group}.optional_hits[{i}]"),
                    hits,
                    "a required step has no optional hits",
                ));
            }
        }
        let counts = self.step_patients(optional);
        for (i, (samples, &count)) in self.seconds.iter().zip(&counts).enumerate().skip(1) {
            let len = samples.len() as u64;
            if len != count {
                return Err(bad(
                    format!("{group}.seconds[{i}] length"),
                    len,
                    "a step has one time to convert per patient at the step",
                ));
            }
            if let Some(&late) = samples
                .chunks()
                .flat_map(<[u32]>::iter)
                .find(|&&v| v > window.get())
            {
                return Err(bad(
                    format!("{group}.seconds[{i}]"),
                    u64::from(late),
                    "a time to convert is at most the window",
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn add_level0(&mut self, patients: u64) {
        if let Some(c) = self.by_level.first_mut() {
            *c += patients;
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, r: &Reach, p: &ScanParams) {
        if let Some(c) = self.by_level.get_mut(r.level()) {
            *c += 1;
        }
        r.for_each_timed(p, |k, seconds, optional| {
            if let Some(v) = self.seconds.get_mut(k - 1) {
                v.push(seconds);
            }
            if optional && let Some(h) = self.optional_hits.get_mut(k - 1) {
                *h += 1;
            }
        });
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

    pub(super) fn merge(&mut self, other: &Tally) {
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
///
/// A state is what shards exchange, so deserialisation trusts none of it: it accepts only
/// what a compute and merges can produce. The funnel's shape passes the checks of
/// [`FunnelSpec::new`](super::FunnelSpec::new) and
/// [`with_breakdown`](super::FunnelSpec::with_breakdown) (at most [`MAX_STEPS`] steps, a
/// valid optional-step mask and attribution step); every [`Tally`] has one entry per step,
/// optional hits only for optional steps and one sample, within the window, per patient at
/// each step from step 2; `patients` is the sum of the levels and `excluded`; breakdown
/// values exist only with a breakdown and add up to the total. Anything else is a
/// [`FunnelError`] naming the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawFunnelState")]
pub struct FunnelState {
    pub(crate) steps: usize,
    pub(crate) mode: FunnelMode,
    pub(crate) window: ConversionWindow,
    pub(crate) optional: u64,
    pub(crate) breakdown: Option<FunnelBreakdown>,
    pub(crate) patients: u64,
    pub(crate) excluded: u64,
    pub(crate) total: Tally,
    #[serde(with = "by_value_pairs")]
    pub(crate) by_value: BTreeMap<BreakdownKey, Tally>,
}

/// The breakdown values as a list of `[key, tally]` pairs: a map keyed by `{"value": 7}` has
/// no JSON form (JSON keys are strings), and shards exchange states as JSON too. A key given
/// twice is refused rather than one of its tallies silently dropped.
mod by_value_pairs {
    use super::{BreakdownKey, Tally};
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};
    use std::collections::BTreeMap;
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<BreakdownKey, Tally>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(map.len()))?;
        for pair in map {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<BreakdownKey, Tally>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = BTreeMap<BreakdownKey, Tally>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of [breakdown key, tally] pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, tally)) = seq.next_element::<(BreakdownKey, Tally)>()? {
                    if map.insert(key, tally).is_some() {
                        return Err(A::Error::custom(format_args!(
                            "by_value: breakdown key {key:?} is given twice"
                        )));
                    }
                }
                Ok(map)
            }
        }
        d.deserialize_seq(Pairs)
    }
}

/// The serde shape of [`FunnelState`], checked on the way in.
#[derive(Deserialize)]
struct RawFunnelState {
    steps: usize,
    mode: FunnelMode,
    window: ConversionWindow,
    optional: u64,
    breakdown: Option<FunnelBreakdown>,
    patients: u64,
    excluded: u64,
    total: Tally,
    #[serde(with = "by_value_pairs")]
    by_value: BTreeMap<BreakdownKey, Tally>,
}

impl TryFrom<RawFunnelState> for FunnelState {
    type Error = FunnelError;
    fn try_from(r: RawFunnelState) -> Result<Self, Self::Error> {
        check_step_count(r.steps)?;
        check_optional(r.steps, r.mode, r.optional)?;
        if let Some(b) = r.breakdown {
            check_breakdown(r.steps, b)?;
        }
        r.total
            .check_against("total", r.steps, r.optional, r.window)?;
        let counted = r.total.patients().and_then(|p| p.checked_add(r.excluded));
        if counted != Some(r.patients) {
            return Err(bad(
                "patients".to_owned(),
                r.patients,
                "patients are the sum of the total's levels and the excluded",
            ));
        }
        if r.breakdown.is_none() {
            if !r.by_value.is_empty() {
                return Err(bad(
                    "by_value length".to_owned(),
                    r.by_value.len(),
                    "a state without a breakdown has no breakdown values",
                ));
            }
        } else {
            check_breakdown_sums(&r)?;
        }
        Ok(FunnelState {
            steps: r.steps,
            mode: r.mode,
            window: r.window,
            optional: r.optional,
            breakdown: r.breakdown,
            patients: r.patients,
            excluded: r.excluded,
            total: r.total,
            by_value: r.by_value,
        })
    }
}

/// Each breakdown value's tally fits the funnel, and the values add up to the total: every
/// patient who was not excluded is attributed to exactly one value (or unattributed).
fn check_breakdown_sums(r: &RawFunnelState) -> Result<(), FunnelError> {
    let n = r.steps;
    let mut levels = vec![0u64; n + 1];
    let mut hits = vec![0u64; n];
    let mut samples = vec![0u64; n];
    let mismatch = |field: &str, value: u64| {
        bad(
            format!("by_value {field}"),
            value,
            "the breakdown values add up to the total",
        )
    };
    for (key, t) in &r.by_value {
        t.check_against(&format!("by_value[{key:?}]"), n, r.optional, r.window)?;
        let add = |sum: &mut [u64], part: &mut dyn Iterator<Item = u64>, field: &str| {
            for (s, x) in sum.iter_mut().zip(part) {
                *s = s.checked_add(x).ok_or_else(|| mismatch(field, x))?;
            }
            Ok::<(), FunnelError>(())
        };
        add(&mut levels, &mut t.by_level.iter().copied(), "by_level")?;
        add(
            &mut hits,
            &mut t.optional_hits.iter().copied(),
            "optional_hits",
        )?;
        add(
            &mut samples,
            &mut t.seconds.iter().map(|s| s.len() as u64),
            "seconds",
        )?;
    }
    let total_samples: Vec<u64> = r.total.seconds.iter().map(|s| s.len() as u64).collect();
    for (field, sum, total) in [
        ("by_level", &levels, &r.total.by_level),
        ("optional_hits", &hits, &r.total.optional_hits),
        ("seconds", &samples, &total_samples),
    ] {
        if let Some((&s, _)) = sum.iter().zip(total.iter()).find(|(s, t)| s != t) {
            return Err(mismatch(field, s));
        }
    }
    Ok(())
}

impl FunnelState {
    /// The empty state of a funnel (no patients).
    #[must_use]
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
    #[must_use]
    pub fn patients(&self) -> u64 {
        self.patients
    }

    /// Patients dropped by an exclusion step.
    #[must_use]
    pub fn excluded(&self) -> u64 {
        self.excluded
    }

    /// The counts over all patients that were not excluded.
    #[must_use]
    pub fn total(&self) -> &Tally {
        &self.total
    }

    /// The counts per breakdown value (empty without a breakdown).
    #[must_use]
    pub fn by_value(&self) -> &BTreeMap<BreakdownKey, Tally> {
        &self.by_value
    }

    /// Patients at each step (level ≥ k), over all patients that were not excluded.
    #[must_use]
    pub fn step_patients(&self) -> Vec<u64> {
        self.total.step_patients(self.optional)
    }

    /// Adds the state of a disjoint set of patients.
    ///
    /// Exact, associative and commutative: merging partial states computed on any split of
    /// the patients (never of one patient's events) gives the state of the whole.
    ///
    /// The funnel is known to a state by its number of steps, mode, window, optional steps
    /// and breakdown; states of funnels that differ only in what their steps or exclusions
    /// match are the caller's to keep apart.
    ///
    /// # Errors
    ///
    /// - [`FunnelError::MergeMismatch`] when the two states come from different funnels;
    /// - [`FunnelError::PatientCountOverflow`] when the patients add up past `u64::MAX`.
    ///
    /// On an error `self` is unchanged.
    pub fn merge(&mut self, other: &FunnelState) -> Result<(), FunnelError> {
        if self.steps != other.steps
            || self.mode != other.mode
            || self.window != other.window
            || self.optional != other.optional
            || self.breakdown != other.breakdown
        {
            return Err(FunnelError::MergeMismatch);
        }
        // Every other count of a state (levels, exclusions, hits, per value) is at most its
        // patients, as a compute builds it and deserialisation checks: when the patients add
        // up, so does everything below, and its saturating adds are exact.
        self.patients =
            self.patients
                .checked_add(other.patients)
                .ok_or(FunnelError::PatientCountOverflow {
                    left: self.patients,
                    right: other.patients,
                })?;
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

    use crate::id::PatientId;
    use crate::metrics::event::{JourneyEvent, JourneyStage::*};
    use crate::metrics::funnel::{FunnelSpec, Step};
    use serde_json::{Value, json};

    /// A real state without a breakdown (JSON holds it): 3 steps, step 2 optional.
    fn state() -> FunnelState {
        let spec = FunnelSpec::new(
            vec![
                Step::kind(Lead),
                Step::kind(Booked).optional(),
                Step::kind(Arrived),
            ],
            ConversionWindow::seconds(100).unwrap(),
            FunnelMode::Default,
        );
        let ev = |p, k: crate::metrics::event::JourneyStage, t| {
            JourneyEvent::new(PatientId::new(p), k.into(), t)
        };
        let events = [
            ev(1, Lead, 0),
            ev(1, Booked, 5),
            ev(1, Arrived, 9),
            ev(2, Lead, 0),
            ev(2, Arrived, 50),
            ev(3, Booked, 0),
        ];
        spec.unwrap().compute(&events).unwrap()
    }

    fn read(v: &Value) -> Result<FunnelState, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }

    fn refused(v: &Value, want: &str) {
        match read(v) {
            Ok(s) => panic!("accepted {s:?}"),
            Err(e) => assert!(e.contains(want), "{e} does not say {want:?}"),
        }
    }

    #[test]
    fn a_computed_state_reads_back_in_the_same_form() {
        let s = state();
        let v = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(
            v,
            json!({"steps":3,"mode":"default","window":100,"optional":4,"breakdown":null,
                "patients":3,"excluded":0,
                "total":{"by_level":[1,0,0,2],"optional_hits":[0,1,0],"seconds":[[],[5],[9,50]]},
                "by_value":[]})
        );
        assert_eq!(read(&v), Ok(s));
        let t = Tally::default();
        let back: Result<Tally, _> =
            serde_json::from_str(&serde_json::to_string(&t).unwrap_or_default());
        assert_eq!(back.ok(), Some(t));
    }

    /// Issue 15: 64 or more (optional) steps overflowed `1 << k` in `step_patients`, and a
    /// huge `steps` allocated a tally of that many levels in `merge`.
    #[test]
    fn too_many_steps_are_refused_and_never_shift_past_63() {
        let v = serde_json::to_value(state()).unwrap_or_default();
        let mut big = v.clone();
        big["steps"] = json!(70);
        big["optional"] = json!(u64::MAX - 3);
        big["total"]["by_level"] = json!(vec![0; 71]);
        big["total"]["optional_hits"] = json!(vec![0; 70]);
        big["total"]["seconds"] = json!(vec![Vec::<u32>::new(); 70]);
        refused(&big, "by_level has more than 33 entries");
        let mut huge = v.clone();
        huge["steps"] = json!(u64::MAX);
        refused(&huge, "funnel has 18446744073709551615 steps, more than 32");
        huge["steps"] = json!(0);
        refused(&huge, "funnel steps are empty");
        // The shift itself: a tally of 70 steps (only buildable inside the crate now) reads
        // step 67 as required, where `1 << 67` wrapped to bit 3 in release (step 3 optional)
        // and counted it as optional, and panicked in debug.
        let mut t = Tally::new(70);
        t.by_level[70] = 1;
        t.optional_hits[66] = 9;
        let counts = t.step_patients(1 << 3);
        assert_eq!((counts[2], counts[66]), (0, 1));
    }

    #[test]
    fn shape_and_counts_are_checked() {
        let v = serde_json::to_value(state()).unwrap_or_default();
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/optional", json!(2), "funnel step 1 cannot be optional"),
            ("/optional", json!(1), "funnel state optional is 1"),
            ("/optional", json!(16), "funnel state optional is 16"),
            ("/mode", json!("unordered"), "funnel step 2 is optional"),
            ("/patients", json!(4), "funnel state patients is 4"),
            ("/excluded", json!(1), "funnel state patients is 3"),
            ("/patients", json!(u64::MAX), "funnel state patients"),
            ("/total/by_level", json!([1, 0, 0]), "by_level length is 3"),
            (
                "/total/optional_hits",
                json!([0, 1, 1]),
                "total.optional_hits[2] is 1",
            ),
            (
                "/total/optional_hits",
                json!([0, 3, 0]),
                "optional_hits[1] is 3",
            ),
            (
                "/total/optional_hits",
                json!([0, 2, 0]),
                "total.seconds[1] length is 1",
            ),
            (
                "/total/optional_hits",
                json!([1, 1, 0]),
                "optional_hits[0] is 1",
            ),
            (
                "/total/seconds",
                json!([[], [5], [9]]),
                "total.seconds[2] length is 1",
            ),
            (
                "/total/seconds",
                json!([[1], [5], [9, 50]]),
                "seconds[0] length is 1",
            ),
            (
                "/total/seconds",
                json!([[], [5], [9, 101]]),
                "total.seconds[2] is 101",
            ),
            (
                "/total/by_level",
                json!([u64::MAX, 1, 0, 0]),
                "add up past u64::MAX",
            ),
            (
                "/by_value",
                json!([["unattributed", v["total"]]]),
                "by_value length is 1",
            ),
            ("/window", json!(0), "funnel window is zero"),
            (
                "/breakdown",
                json!({"dimension":"channel","attribution":{"step":4}}),
                "breakdown attribution step 4",
            ),
        ];
        for (path, value, want) in cases {
            let mut bad = v.clone();
            if let Some(slot) = bad.pointer_mut(path) {
                *slot = value;
            }
            refused(&bad, want);
        }
    }

    #[test]
    fn breakdown_values_add_up_to_the_total() {
        let mut v = serde_json::to_value(state()).unwrap_or_default();
        v["breakdown"] = json!({"dimension":"doctor","attribution":"first_touch"});
        let total = v["total"].clone();
        v["by_value"] = json!([["unattributed", total]]);
        let s = read(&v);
        assert!(s.is_ok(), "{s:?}");
        let mut twice = v.clone();
        twice["by_value"] = json!([["unattributed", total], ["unattributed", total]]);
        assert!(read(&twice).is_err());
        let mut fewer = v.clone();
        fewer["by_value"][0][1]["by_level"] = json!([0, 0, 0, 2]);
        refused(&fewer, "by_value by_level is 0");
        fewer["patients"] = json!(2);
        fewer["total"]["by_level"] = json!([0, 0, 0, 2]);
        let s = read(&fewer);
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn merge_refuses_to_overflow_and_leaves_the_state_unchanged() {
        let mut a = state();
        a.patients = u64::MAX - 1;
        a.total.by_level[0] = u64::MAX - 4;
        let before = a.clone();
        assert_eq!(
            a.merge(&state()),
            Err(FunnelError::PatientCountOverflow {
                left: u64::MAX - 1,
                right: 3
            })
        );
        assert_eq!(a, before);
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
