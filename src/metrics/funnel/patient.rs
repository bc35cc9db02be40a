//! One patient at a time: the engine's per-patient sort and scan for hosts that group rows
//! by patient themselves, such as a SQL engine's `GROUP BY patient` (the DataFusion adapter's
//! `window_funnel`), where the partial state of a group is its (timestamp, step mask) pairs.

use super::FunnelError;
use super::partition::{STEP_BITS, for_each_code};
use super::scan::{self, Layout, Reach, Rec, Scan, ScanParams};
use super::spec::{EXCLUSION_BIT, FunnelMode, FunnelSpec};
use super::state::FunnelState;

/// One patient's events as packed records, sorted, and the reach the funnel's scan found.
struct Scanned {
    reach: Reach,
    excluded: bool,
}

impl FunnelSpec {
    /// The bits an event mask of this funnel may have: one per step, and the exclusion bit.
    fn mask_bits(&self) -> u64 {
        // At most MAX_STEPS (32) steps, so the shift is in range.
        let steps = (1u64 << self.steps().len()).wrapping_sub(1) & STEP_BITS;
        steps | EXCLUSION_BIT
    }

    fn scan_patient(&self, events: &[(i64, u64)]) -> Result<Scanned, FunnelError> {
        let allowed = self.mask_bits();
        let mut min = i64::MAX;
        let mut max = i64::MIN;
        for &(at, mask) in events {
            if mask & !allowed != 0 {
                return Err(FunnelError::BadMask {
                    mask,
                    steps: self.steps().len(),
                });
            }
            min = min.min(at);
            max = max.max(at);
        }
        let range = if max >= min {
            max.wrapping_sub(min) as u64
        } else {
            0
        };
        // Only the time and the step vary within one patient: no patient or dimension bits.
        let layout = Layout::new(0, 64 - range.leading_zeros(), 0);
        if layout.total_bits() <= 64 {
            Ok(self.scan_packed::<u64>(events, &layout, min))
        } else {
            Ok(self.scan_packed::<u128>(events, &layout, min))
        }
    }

    fn scan_packed<R: Rec>(&self, events: &[(i64, u64)], l: &Layout, origin: i64) -> Scanned {
        let strict_order = self.mode() == FunnelMode::StrictOrder;
        let params = ScanParams::new(
            self.steps().len(),
            self.mode(),
            u64::from(self.window().get()),
            self.optional_mask(),
            !self.exclusions().is_empty(),
            None,
        );
        let mut recs: Vec<R> = Vec::with_capacity(events.len());
        for &(at, mask) in events {
            // at >= origin, so the wrapping difference is the true one and fits in u64.
            let ts = at.wrapping_sub(origin) as u64;
            for_each_code(mask, strict_order, |k| recs.push(R::pack(l, 0, ts, k, 0)));
        }
        // The records sort as the engine's do: by (timestamp, step), ClickHouse's tie rule.
        recs.sort_unstable();
        let mut reach = Reach::default();
        macro_rules! go {
            ($s:ty) => {
                <$s>::run(&recs, l, &params, &mut reach)
            };
        }
        scan::with_scan!(params, go);
        let excluded = reach.excluded(&recs, l, &params);
        Scanned { reach, excluded }
    }

    /// The level of one patient: `windowFunnel(window, mode)(timestamp, cond_1, …, cond_n)`
    /// over the patient's events, computed by the same sort and scan as
    /// [`compute`](FunnelSpec::compute).
    ///
    /// Each event is `(unix seconds, step mask)` in any order, the mask as
    /// [`mask_of`](FunnelSpec::mask_of) builds it: bit `k - 1` when the event matches step
    /// `k`, bit 32 for an exclusion. The host evaluates the conditions itself (a SQL engine
    /// its `cond_k` columns), so the steps' matchers are not consulted. A mask of 0 is an
    /// event that matches no step, which only `strict_order` looks at. Exclusions do not
    /// change the level; [`patient_state`](FunnelSpec::patient_state) applies them.
    ///
    /// ```
    /// use clinic_ops::metrics::event::JourneyStage::*;
    /// use clinic_ops::metrics::funnel::{ConversionWindow, FunnelMode, FunnelSpec, Step};
    ///
    /// let spec = FunnelSpec::new(
    ///     vec![Step::kind(Lead), Step::kind(Booked), Step::kind(Arrived)],
    ///     ConversionWindow::seconds(100)?,
    ///     FunnelMode::StrictOrder,
    /// )?;
    /// // Step 1 at 0, step 2 at 10, an event of no step at 20, step 3 at 30.
    /// assert_eq!(spec.patient_level(&[(30, 0b100), (0, 0b001), (10, 0b010), (20, 0)])?, 2);
    /// assert_eq!(spec.patient_level(&[(30, 0b100), (0, 0b001), (10, 0b010)])?, 3);
    /// # Ok::<(), clinic_ops::metrics::funnel::FunnelError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`FunnelError::BadMask`] for a mask with a bit beyond the funnel's steps (other than
    /// the exclusion bit).
    pub fn patient_level(&self, events: &[(i64, u64)]) -> Result<usize, FunnelError> {
        Ok(self.scan_patient(events)?.reach.level())
    }

    /// The state of a set of one patient, from the patient's `(unix seconds, step mask)`
    /// events in any order (masks as in [`patient_level`](FunnelSpec::patient_level)):
    /// [`merge`](FunnelState::merge) such states over distinct patients and the result is
    /// the state [`compute`](FunnelSpec::compute) gives over all their events. With no
    /// events the patient is still a patient, at level 0.
    ///
    /// # Errors
    ///
    /// - [`FunnelError::BadMask`] as for [`patient_level`](FunnelSpec::patient_level);
    /// - [`FunnelError::MissingDimension`] for a funnel with a breakdown, whose attribution
    ///   needs dimension values that masks do not carry.
    pub fn patient_state(&self, events: &[(i64, u64)]) -> Result<FunnelState, FunnelError> {
        if self.breakdown().is_some() {
            return Err(FunnelError::MissingDimension);
        }
        let scanned = self.scan_patient(events)?;
        let mut state = FunnelState::empty(self);
        state.patients = 1;
        if scanned.excluded {
            state.excluded = 1;
        } else {
            let params = ScanParams::new(
                self.steps().len(),
                self.mode(),
                u64::from(self.window().get()),
                self.optional_mask(),
                !self.exclusions().is_empty(),
                None,
            );
            state.total.record(&scanned.reach, &params);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PatientId;
    use crate::metrics::event::{JourneyEvent, JourneyEventKind, JourneyStage};
    use crate::metrics::funnel::{ConversionWindow, Step, StepMatcher};
    use proptest::prelude::*;

    const KINDS: [JourneyStage; 4] = [
        JourneyStage::Lead,
        JourneyStage::Booked,
        JourneyStage::Arrived,
        JourneyStage::Purchased,
    ];

    fn spec(mode: FunnelMode, steps: &[usize], window: u64, exclude: bool) -> FunnelSpec {
        let steps = steps.iter().map(|&i| Step::kind(KINDS[i % 4])).collect();
        let s = FunnelSpec::new(
            steps,
            ConversionWindow::seconds(window).unwrap_or_else(|_| unreachable!()),
            mode,
        )
        .unwrap_or_else(|_| unreachable!());
        if exclude {
            s.with_exclusion(StepMatcher::kind(JourneyStage::Purchased))
        } else {
            s
        }
    }

    proptest! {
        /// Patient by patient, merged, the states equal the engine's over all events, and
        /// each level is the one the engine counted, in every mode.
        #[test]
        fn patients_merge_to_the_engine_state(
            mode in prop::sample::select(FunnelMode::ALL.to_vec()),
            steps in prop::collection::vec(0usize..4, 1..5),
            window in 1u64..40,
            exclude in any::<bool>(),
            rows in prop::collection::vec((0u64..6, 0usize..5, -5i64..60), 0..60),
        ) {
            let spec = spec(mode, &steps, window, exclude);
            let events: Vec<JourneyEvent> = rows
                .iter()
                .map(|&(p, k, t)| {
                    let kind = match KINDS.get(k) {
                        Some(&s) => JourneyEventKind::stage(s),
                        None => JourneyEventKind::stage(JourneyStage::Referred),
                    };
                    JourneyEvent::new(PatientId::new(p), kind, t)
                })
                .collect();
            let want = spec.compute(&events).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut got = FunnelState::empty(&spec);
            let mut ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let mine: Vec<(i64, u64)> = events
                    .iter()
                    .filter(|e| e.patient.get() == id)
                    .map(|e| (e.at, spec.mask_of(e)))
                    .collect();
                let one = spec.patient_state(&mine).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let level = spec.patient_level(&mine).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if one.excluded() == 0 {
                    prop_assert_eq!(one.total().by_level().get(level).copied(), Some(1));
                }
                got.merge(&one).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn masks_beyond_the_steps_are_refused() {
        let s = spec(FunnelMode::Default, &[0, 1], 10, false);
        assert_eq!(
            s.patient_level(&[(0, 0b100)]),
            Err(FunnelError::BadMask { mask: 4, steps: 2 })
        );
        assert_eq!(
            s.patient_level(&[(0, 1 << 40)]),
            Err(FunnelError::BadMask {
                mask: 1 << 40,
                steps: 2
            })
        );
        assert_eq!(s.patient_level(&[(0, EXCLUSION_BIT | 1)]), Ok(1));
        assert_eq!(s.patient_level(&[]), Ok(0));
    }

    /// Timestamps at both ends of `i64` take the 128-bit records and still scan exactly.
    #[test]
    fn the_widest_time_range_scans() {
        let s = spec(FunnelMode::Default, &[0, 1], 10, false);
        let events = [(i64::MIN, 1), (i64::MAX - 5, 1), (i64::MAX, 2)];
        assert_eq!(s.patient_level(&events), Ok(2));
    }

    #[test]
    fn a_breakdown_needs_dimensions() {
        let s = spec(FunnelMode::Default, &[0, 1], 10, false)
            .with_breakdown(crate::metrics::funnel::FunnelBreakdown {
                dimension: crate::metrics::funnel::Dimension::Channel,
                attribution: crate::metrics::funnel::Attribution::FirstTouch,
            })
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            s.patient_state(&[(0, 1)]),
            Err(FunnelError::MissingDimension)
        );
    }
}
