//! Funnels that agree with the warehouse: ClickHouse `windowFunnel` levels, exactly.
//!
//! ```
//! use clinic_ops::id::PatientId;
//! use clinic_ops::metrics::event::{JourneyEventKind, JourneyEvent, JourneyStage::*};
//! use clinic_ops::metrics::funnel::{FunnelMode, FunnelSpec, Step, ConversionWindow};
//!
//! let spec = FunnelSpec::new(
//!     vec![Step::kind(Lead), Step::kind(Booked), Step::kind(Arrived)],
//!     ConversionWindow::days(7)?,
//!     FunnelMode::Default,
//! )?;
//! let day = 86_400;
//! let ev = |p, k, t| JourneyEvent::new(PatientId::new(p), JourneyEventKind::stage(k), t);
//! let events = [
//!     ev(1, Booked, 2 * day), ev(1, Lead, 0), ev(1, Arrived, 3 * day), // in any order
//!     ev(2, Lead, 0), ev(2, Booked, 8 * day),                          // booked too late
//!     ev(3, Arrived, day),                                             // never a lead
//! ];
//! let state = spec.compute(&events)?;
//! assert_eq!(state.step_patients(), vec![2, 1, 1]);
//! let report = state.report(&spec, 10);
//! assert_eq!(report.patients, 3);
//! assert_eq!(report.steps[2].median_seconds_to_convert, Some(3.0 * 86_400.0));
//! # Ok::<(), clinic_ops::metrics::funnel::FunnelError>(())
//! ```
//!
//! # The ordered modes: ClickHouse's scan
//!
//! For `default`, `strict_order`, `strict_deduplication` and `strict_increase`, every
//! patient's level is exactly `windowFunnel(window, mode)(timestamp, cond1, …, condN)`
//! (checked against chDB 4.4 / ClickHouse 26.9, random inputs included):
//!
//! - **Setup.** Each event of a patient gets its step number k = 1..n; a row matching several
//!   steps is one event per step. An event matching no step is dropped, except in
//!   `strict_order`, where it stays as k = 0. Sort by `(timestamp, k)`: at equal times the
//!   lowest step comes first. Keep `reached[k] = (chain_start, step_time)` per step.
//! - **Scan**, in order:
//!   - k = 0 (`strict_order`): stop if a step-1 event was seen, else skip;
//!   - k = 1: `reached[1] = (ts, ts)`; a later step 1 overwrites it (the chain restarts);
//!   - `strict_deduplication`: a step k > 1 already reached stops the scan;
//!   - `strict_order`: after a step 1, a step k whose step k−1 is unreached stops the scan;
//!   - otherwise, if `reached[k−1] = (start, prev)` and `ts <= start + window` (inclusive),
//!     and for `strict_increase` also `prev < ts`, then `reached[k] = (start, ts)`; reaching
//!     the last step stops the scan.
//! - **Level** = the highest k reached, or 0. "Patients at step k" = patients with level ≥ k.
//!   Patients none of whose events match still count, at level 0.
//!
//! **Optional steps** (ordered modes, never step 1) extend the rule: step k may follow the
//! highest reached step j < k when every step between j and k is optional. A required
//! step's count is level ≥ k; an optional step's is the patients who did it in their chain.
//!
//! **`unordered`** follows PostHog: for each step event as an anchor, count the distinct
//! steps done in `anchor ..= anchor + window`; the best anchor (the earliest among equals)
//! gives the level.
//!
//! **Exclusions** drop a patient with an exclusion event in `start ..= start + window`, where
//! `start` is the step-1 time of the chain that gave the level.
//!
//! **Time to convert** to step k is `reached[k].step_time − reached[k].chain_start`: from the
//! step-1 event of the chain that reached the step. Ties between identical `(time, step)`
//! events are broken by the dimension value, so breakdowns do not depend on input order.
//!
//! # Sharding by patient
//!
//! A [`FunnelState`] is exact (patients per level, every time-to-convert sample), so states
//! over disjoint sets of patients merge into the state of the union, associatively and
//! commutatively. A host can split its patients over workers, machines or a map-reduce job,
//! as long as all events of one patient go to the same shard:
//!
//! ```
//! use clinic_ops::id::PatientId;
//! use clinic_ops::metrics::event::{JourneyEventKind, JourneyEvent, JourneyStage::*};
//! use clinic_ops::metrics::funnel::{FunnelMode, FunnelSpec, FunnelState, Step, ConversionWindow};
//!
//! let spec = FunnelSpec::new(
//!     vec![Step::kind(Lead), Step::kind(Booked)],
//!     ConversionWindow::days(30)?,
//!     FunnelMode::StrictIncrease,
//! )?;
//! let events: Vec<JourneyEvent> = (0..1000u64)
//!     .flat_map(|p| {
//!         let id = PatientId::new(p);
//!         let t = p as i64 * 60;
//!         [JourneyEvent::new(id, Lead.into(), t), JourneyEvent::new(id, Booked.into(), t + (p as i64 % 7))]
//!     })
//!     .collect();
//! // Map: route by patient (a hash in real life), compute each shard on its own worker.
//! let shards: Vec<FunnelState> = (0..4)
//!     .map(|s| {
//!         let mine: Vec<_> = events.iter().copied().filter(|e| e.patient.get() % 4 == s).collect();
//!         spec.compute(&mine)
//!     })
//!     .collect::<Result<_, _>>()?;
//! // Reduce: merge in any order and grouping.
//! let mut total = FunnelState::empty(&spec);
//! for s in shards.iter().rev() {
//!     total.merge(s)?;
//! }
//! assert_eq!(total, spec.compute(&events)?);
//! assert_eq!(total.step_patients(), vec![1000, 857]); // p % 7 == 0: not strictly later
//! # Ok::<(), clinic_ops::metrics::funnel::FunnelError>(())
//! ```
//!
//! # Speed
//!
//! [`FunnelSpec::compute_columns`] is the fast path: dictionary-encoded columns, as a
//! warehouse stores them, and no allocation per event. It partitions rows by patient bucket
//! in one pass over packed 8-byte records, then sorts and scans each patient inside a
//! cache-sized buffer (see the engine notes in the source). With the `parallel` feature it
//! splits both passes over scoped threads. Time-to-convert samples are kept unsorted; the
//! report's medians and histograms take a few linear passes over them, which
//! [`FunnelState::report_with`] shares among threads as well.

mod columns;
mod engine;
mod flat;
pub(crate) mod par;
mod partition;
mod patient;
mod report;
mod samples;
mod scan;
mod spec;
mod state;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use columns::EventColumns;
pub use report::{
    BreakdownBucket, BreakdownReport, FunnelReport, HistogramBin, StepReport, histogram_bins,
};
pub use spec::{
    Attribution, ConversionWindow, Dimension, FunnelBreakdown, FunnelMode, FunnelSpec, MAX_STEPS,
    Step, StepMatcher,
};
pub use state::{BreakdownKey, FunnelState, Tally};

use crate::metrics::event::JourneyEvent;

/// Why a funnel could not be defined or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunnelError {
    /// A funnel needs at least one step.
    #[error("funnel steps are empty")]
    NoSteps,
    /// More steps than ClickHouse allows.
    #[error("funnel has {count} steps, more than {max}")]
    TooManySteps {
        /// Steps given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A window of zero seconds.
    #[error("funnel window is zero")]
    ZeroWindow,
    /// A window above `u32::MAX` seconds.
    #[error("funnel window {seconds}s is longer than {max}s", max = u32::MAX)]
    WindowTooLong {
        /// Seconds given.
        seconds: u64,
    },
    /// Window text that is not a number and a unit.
    #[error("funnel window {value:?} is not a whole number followed by s, m, h or d")]
    BadWindow {
        /// The text given.
        value: String,
    },
    /// Mode text that names no mode.
    #[error(
        "funnel mode {value:?} is not default, strict_order, strict_deduplication, strict_increase or unordered"
    )]
    UnknownMode {
        /// The text given.
        value: String,
    },
    /// Step 1 cannot be optional.
    #[error("funnel step 1 cannot be optional")]
    OptionalFirstStep,
    /// Unordered funnels have no optional steps.
    #[error("funnel step {step} is optional, which an unordered funnel does not allow")]
    OptionalUnordered {
        /// The step.
        step: usize,
    },
    /// `Attribution::Step(n)` outside the steps.
    #[error("breakdown attribution step {step} is not one of the {steps} steps")]
    BadAttributionStep {
        /// The step given.
        step: u8,
        /// Steps in the funnel.
        steps: usize,
    },
    /// Two states of different funnels.
    #[error("funnel states come from different funnels and cannot merge")]
    MergeMismatch,
    /// Two states whose patients together exceed what a `u64` counts.
    #[error("funnel states of {left} and {right} patients are too many to merge")]
    PatientCountOverflow {
        /// Patients of the state merged into.
        left: u64,
        /// Patients of the state merged in.
        right: u64,
    },
    /// A list in a deserialised state longer than its limit; refused while reading, before
    /// the rest of the list is read.
    #[error("funnel state {field} has more than {max} entries")]
    StateListTooLong {
        /// Which list.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// A deserialised state whose numbers no compute or merge produces.
    #[error("funnel state {field} is {value}: {rule}")]
    BadState {
        /// Where in the state, as a path (`by_value[Value(3)].seconds[2] length`).
        field: String,
        /// The value found.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// Columns of different lengths.
    #[error("event columns differ in length: patient {patient}, kind {kind}, at {at}")]
    ColumnLengths {
        /// Rows in `patient`.
        patient: usize,
        /// Rows in `kind` (or the dimension).
        kind: usize,
        /// Rows in `at`.
        at: usize,
    },
    /// Steps that match on dimensions need whole events.
    #[error("funnel steps match on channel, doctor or clinic; use compute with events")]
    NeedsEvents,
    /// A breakdown without its dimension column.
    #[error("funnel breakdown needs the dimension column")]
    MissingDimension,
    /// A patient number beyond `patient_count`.
    #[error("row {row}: patient {patient} is not below patient_count {patient_count}")]
    PatientOutOfRange {
        /// The row.
        row: usize,
        /// The patient number.
        patient: u32,
        /// The declared count.
        patient_count: u32,
    },
    /// More than `u32::MAX` distinct patients in one call.
    #[error("more than {max} patients in one funnel call; shard by patient", max = u32::MAX)]
    TooManyPatients,
    /// Timestamps and dimension codes too far apart to pack.
    #[error("event timestamps span too wide a range to pack")]
    TimeRangeTooWide,
    /// A host-built event mask with a step bit beyond the funnel's steps, or a bit above
    /// the exclusion bit.
    #[error("event mask {mask:#x} names a step beyond the funnel's {steps} steps")]
    BadMask {
        /// The mask given.
        mask: u64,
        /// Steps in the funnel.
        steps: usize,
    },
}

impl FunnelSpec {
    /// Computes the funnel over journey events in any order, on one thread.
    ///
    /// Steps and exclusions may match on channel, doctor and clinic. The patients of the
    /// result are the distinct patients of `events`.
    ///
    /// # Errors
    ///
    /// [`FunnelError::TooManyPatients`] above `u32::MAX` distinct patients, and
    /// [`FunnelError::TimeRangeTooWide`] for timestamps that cannot be packed.
    pub fn compute(&self, events: &[JourneyEvent]) -> Result<FunnelState, FunnelError> {
        let mut ids: HashMap<u64, u32> = HashMap::new();
        let mut patient = Vec::with_capacity(events.len());
        // Dimension codes are ranks of the raw values (0 = no value), so that ties between
        // identical (time, step) events break by value, whatever the input order.
        let mut raw_dims: Vec<u64> = match self.breakdown() {
            Some(b) => events.iter().filter_map(|e| b.dimension.of(e)).collect(),
            None => Vec::new(),
        };
        raw_dims.sort_unstable();
        raw_dims.dedup();
        let mut dim = Vec::new();
        for e in events {
            let next = u32::try_from(ids.len()).map_err(|_| FunnelError::TooManyPatients)?;
            patient.push(*ids.entry(e.patient.get()).or_insert(next));
            if let Some(b) = self.breakdown() {
                let code = match b.dimension.of(e) {
                    None => 0,
                    Some(v) => raw_dims.binary_search(&v).map_or(0, |i| i as u32 + 1),
                };
                dim.push(code);
            }
        }
        let masks: Vec<u64> = events.iter().map(|e| self.mask_of(e)).collect();
        let at: Vec<i64> = events.iter().map(|e| e.at).collect();
        let input = engine::Input {
            patient_count: u32::try_from(ids.len()).map_err(|_| FunnelError::TooManyPatients)?,
            patient: &patient,
            at: &at,
            masks: engine::Masks::Rows(&masks),
            dim: self.breakdown().map(|_| &dim[..]),
            by_patient: None,
        };
        let mut state = engine::run(self, &input, 1)?;
        if self.breakdown().is_some() {
            let coded = std::mem::take(&mut state.by_value);
            let mut empty = FunnelState::empty(self);
            for (k, t) in coded {
                let key = match k {
                    BreakdownKey::Value(c) => c
                        .checked_sub(1)
                        .and_then(|i| raw_dims.get(i as usize))
                        .map_or(BreakdownKey::Unattributed, |&v| BreakdownKey::Value(v)),
                    BreakdownKey::Unattributed => BreakdownKey::Unattributed,
                };
                let mut one = FunnelState::empty(self);
                one.by_value.insert(key, t);
                empty.merge(&one)?;
            }
            state.by_value = empty.by_value;
        }
        Ok(state)
    }

    /// Computes the funnel over dictionary-encoded columns, the fast path for millions of
    /// rows. `threads` workers share the work with the `parallel` feature (one runs without
    /// it); the result does not depend on `threads`.
    ///
    /// Steps must match on kind alone; breakdown values are the codes of
    /// `cols.dimension`, attributed as the spec says.
    ///
    /// # Errors
    ///
    /// - [`FunnelError::ColumnLengths`] for columns of different lengths;
    /// - [`FunnelError::PatientOutOfRange`] for a patient number `>= patient_count`;
    /// - [`FunnelError::NeedsEvents`] when a step matches on a dimension;
    /// - [`FunnelError::MissingDimension`] for a breakdown without `cols.dimension`;
    /// - [`FunnelError::TimeRangeTooWide`] for timestamps that cannot be packed.
    pub fn compute_columns(
        &self,
        cols: &EventColumns<'_>,
        threads: usize,
    ) -> Result<FunnelState, FunnelError> {
        let input = engine::Input::from_columns(self, cols)?;
        engine::run(self, &input, threads)
    }

    /// [`compute_columns`](FunnelSpec::compute_columns) with the breakdown value given per
    /// patient, `by_patient[p]` for patient `p` (`cols.dimension` is not read): the state is
    /// the one every row of a patient carrying the patient's value gives. The engine then
    /// packs no value into its records and reads each patient's once, in patient order.
    ///
    /// # Errors
    ///
    /// As [`compute_columns`](FunnelSpec::compute_columns), and
    /// [`FunnelError::MissingDimension`] for a funnel without a breakdown or a `by_patient`
    /// that is not `cols.patient_count` long.
    pub(crate) fn compute_columns_by_patient(
        &self,
        cols: &EventColumns<'_>,
        by_patient: &[u32],
        threads: usize,
    ) -> Result<FunnelState, FunnelError> {
        let input = engine::Input::from_columns_by_patient(self, cols, by_patient)?;
        engine::run(self, &input, threads)
    }
}
