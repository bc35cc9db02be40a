//! `window_funnel` and `funnel_state` for all of a partition's groups at once.
//!
//! DataFusion's per-group adapter keeps a boxed [`FunnelAccumulator`](super::FunnelAccumulator)
//! per patient, takes each batch apart group by group, and in the partial stage of a
//! high-cardinality `GROUP BY` turns every row into a state through a fresh accumulator.
//! Here the events of all groups are appended to one vector, each with its group, and are
//! put in group order once, when the groups are emitted (a counting sort: stable, so each
//! group keeps its events in arrival order). A vector per group, grown by `push`, spent
//! a third of the query's time in the allocator at two million patients.
//! The partial state (two lists, Unix seconds and step masks), its validation on merge and
//! the scan of a group (the library's [`FunnelSpec::patient_level`]) are the per-group
//! accumulator's own, through [`FunnelCall`].
//!
//! [`FunnelSpec::patient_level`]: clinic_ops::metrics::funnel::FunnelSpec::patient_level

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, UInt8Array};
use datafusion::common::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use clinic_ops::metrics::funnel::MAX_STEPS;

use super::{FunnelCall, FunnelOutput, lists, state_lists};
use crate::error::SqlFnError;

/// The events of a partition's groups in arrival order, each `(unix seconds, group << 32 |
/// step mask)`: a mask has at most [`MAX_STEPS`] (32) bits, and `grow` keeps group indices
/// below 2³², so one 16-byte pair holds an event and its group.
#[derive(Debug)]
pub(crate) struct FunnelGroups {
    call: FunnelCall,
    events: Vec<(i64, u64)>,
    /// The groups DataFusion has numbered so far (a group may have no events).
    groups: usize,
}

const _: () = assert!(MAX_STEPS <= 32);
const MASK: u64 = u32::MAX as u64;

/// An event of `group` (below 2³², as `grow` checked), tagged for [`FunnelGroups::events`].
fn tagged(group: usize, t: i64, mask: u64) -> (i64, u64) {
    (t, ((group as u64) << 32) | (mask & MASK))
}

/// Emitted groups: group `g`'s events are `events[starts[g]..starts[g + 1]]`.
struct Grouped {
    starts: Vec<u32>,
    events: Vec<(i64, u64)>,
}

impl Grouped {
    fn iter(&self) -> impl Iterator<Item = &[(i64, u64)]> + Clone {
        self.starts.windows(2).map(|w| {
            self.events
                .get(w[0] as usize..w[1] as usize)
                .unwrap_or_default()
        })
    }
}

impl FunnelGroups {
    pub(crate) fn new(call: FunnelCall) -> Self {
        FunnelGroups {
            call,
            events: Vec::new(),
            groups: 0,
        }
    }

    /// Counts the groups DataFusion numbered; their indices must fit the 32 bits kept per
    /// event, and the events of a partition the `u32` offsets of [`Grouped`].
    fn grow(&mut self, total_num_groups: usize, more_events: usize) -> Result<()> {
        let limit = u32::MAX as usize;
        if total_num_groups > limit || self.events.len().saturating_add(more_events) > limit {
            return Err(SqlFnError::Signature {
                function: self.call.function,
                problem: format!("more than {limit} groups or events in one partition"),
            }
            .into());
        }
        self.groups = self.groups.max(total_num_groups);
        Ok(())
    }

    /// Takes the groups `emit_to` asks for out of the accumulator, their events in group
    /// order; the groups left are renumbered from 0, as `EmitTo::First` requires.
    fn take(&mut self, emit_to: EmitTo) -> Grouped {
        let n = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        // A counting sort: stable, so each group keeps its events in arrival order. `u32`
        // counts, as `grow` bounds the events, halve the table the scatter reads at random.
        let mut starts = vec![0u32; n + 1];
        for &(_, tag) in &self.events {
            if let Some(c) = starts.get_mut((tag >> 32) as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut events = vec![(0, 0); starts[n] as usize];
        let mut kept = 0;
        for i in 0..self.events.len() {
            let (t, tag) = self.events[i];
            let g = (tag >> 32) as usize;
            if g < n {
                events[next[g] as usize] = (t, tag & MASK);
                next[g] += 1;
            } else {
                self.events[kept] = tagged(g - n, t, tag);
                kept += 1;
            }
        }
        self.events.truncate(kept);
        if kept == 0 {
            self.events = Vec::new();
        }
        self.groups -= n;
        Grouped { starts, events }
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups, group_indices.len())?;
        let FunnelGroups { call, events, .. } = self;
        call.for_each_event(values, opt_filter, |row, t, mask| {
            if let Some(&g) = group_indices.get(row) {
                events.push(tagged(g, t, mask));
            }
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let grouped = self.take(emit_to);
        Ok(match self.call.output {
            FunnelOutput::Level => Arc::new(
                grouped
                    .iter()
                    .map(|g| self.call.level(g).map(Some))
                    .collect::<Result<UInt8Array>>()?,
            ),
            FunnelOutput::State => Arc::new(
                grouped
                    .iter()
                    .map(|g| self.call.state_bytes(g).map(Some))
                    .collect::<Result<BinaryArray>>()?,
            ),
        })
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let grouped = self.take(emit_to);
        state_lists(self.call.function, grouped.iter())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups, 0)?;
        let FunnelGroups { call, events, .. } = self;
        call.for_each_state(values, |row, t, m| {
            if let Some(&g) = group_indices.get(row) {
                events.extend(t.iter().zip(m).map(|(&t, &m)| tagged(g, t, m)));
            }
        })?;
        // Checked after the fact: the lists' lengths are only known once read.
        self.grow(total_num_groups, 0)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group: a list of its one event, or an empty list.
        let rows = values.get(2).map_or(0, |t| t.len());
        let mut ts = Vec::with_capacity(rows);
        let mut masks = Vec::with_capacity(rows);
        let mut ends = Vec::with_capacity(rows + 1);
        ends.push(0);
        self.call
            .for_each_event(values, opt_filter, |row, t, mask| {
                // Rows before this one with no event end where they began.
                ends.resize(row + 1, ts.len());
                ts.push(t);
                masks.push(mask);
                ends.push(ts.len());
            })?;
        ends.resize(rows + 1, ts.len());
        lists(self.call.function, ts, masks, &ends)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.events.capacity() * size_of::<(i64, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::{FunnelAccumulator, sql_spec};
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::UInt8Type;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::Accumulator;
    use proptest::prelude::*;

    const MODES: [&str; 4] = [
        "default",
        "strict_order",
        "strict_deduplication",
        "strict_increase",
    ];

    fn call(mode: &str, steps: usize) -> FunnelCall {
        let spec =
            sql_spec("window_funnel", steps, 10, mode, None).unwrap_or_else(|e| panic!("{e}"));
        FunnelCall::new("window_funnel", FunnelOutput::Level, spec)
    }

    /// The arguments of rows `(time, step or none)` for a funnel of `steps` steps.
    fn args(rows: &[(i64, Option<usize>)], steps: usize) -> Vec<ArrayRef> {
        let mut v: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![10; rows.len()])),
            Arc::new(Int64Array::from(vec![0; rows.len()])),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ];
        for k in 0..steps {
            v.push(Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.1 == Some(k))),
            )));
        }
        v
    }

    fn levels(a: &ArrayRef) -> Vec<u8> {
        a.as_primitive::<UInt8Type>().values().to_vec()
    }

    proptest! {
        /// Split into batches, partial states emitted in two parts (`EmitTo::First`),
        /// merged into a final accumulator, or every row turned into its own state: each
        /// group's level is the per-group accumulator's and the library's.
        #[test]
        fn all_groups_equal_one_group_at_a_time(
            rows in prop::collection::vec((0usize..6, -5i64..40, prop::option::of(0usize..3)), 0..60),
            mode in prop::sample::select(MODES.to_vec()),
            split in 0usize..60,
            first in 0usize..6,
        ) {
            let steps = 3;
            let groups: Vec<usize> = rows.iter().map(|r| r.0).collect();
            let events: Vec<(i64, Option<usize>)> = rows.iter().map(|r| (r.1, r.2)).collect();
            let split = split.min(rows.len());
            let n = 6;

            // Per group, one accumulator each.
            let mut want = Vec::new();
            for g in 0..n {
                let mine: Vec<_> = events.iter().zip(&groups).filter(|(_, x)| **x == g).map(|(e, _)| *e).collect();
                let mut acc = FunnelAccumulator { call: call(mode, steps), events: Vec::new() };
                acc.update_batch(&args(&mine, steps)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let level = match acc.evaluate().map_err(|e| TestCaseError::fail(e.to_string()))? {
                    ScalarValue::UInt8(Some(l)) => l,
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                let core = acc.call.level(&acc.events).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(level, core);
                want.push(level);
            }

            // Partial: two batches; state in two emits; final merges.
            let mut partial = FunnelGroups::new(call(mode, steps));
            let a = args(&events, steps);
            let head: Vec<ArrayRef> = a.iter().map(|c| c.slice(0, split)).collect();
            let tail: Vec<ArrayRef> = a.iter().map(|c| c.slice(split, events.len() - split)).collect();
            partial.update_batch(&head, &groups[..split], None, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            partial.update_batch(&tail, &groups[split..], None, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let first = first.min(n);
            let s1 = partial.state(EmitTo::First(first)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let s2 = partial.state(EmitTo::All).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(partial.size(), size_of_val(&partial));
            let mut fin = FunnelGroups::new(call(mode, steps));
            let idx1: Vec<usize> = (0..first).collect();
            let idx2: Vec<usize> = (first..n).collect();
            fin.merge_batch(&s1, &idx1, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            fin.merge_batch(&s2, &idx2, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let got = fin.evaluate(EmitTo::All).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(levels(&got), want.clone());

            // Skipped partial aggregation: a state per row, merged by group.
            let per_row = partial.convert_to_state(&a, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut fin = FunnelGroups::new(call(mode, steps));
            fin.merge_batch(&per_row, &groups, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Emitting the first groups, then the rest, gives the same levels in order.
            let mut got = levels(&fin.evaluate(EmitTo::First(first)).map_err(|e| TestCaseError::fail(e.to_string()))?);
            got.extend(levels(&fin.evaluate(EmitTo::All).map_err(|e| TestCaseError::fail(e.to_string()))?));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn group_indices_beyond_32_bits_are_refused() {
        // Each event keeps its group in 32 bits: a partition with more groups is an error,
        // never a group silently folded onto another.
        let mut g = FunnelGroups::new(call("default", 2));
        let e = g.grow(u32::MAX as usize + 1, 0);
        assert!(
            e.as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("groups or events in one partition")),
            "{e:?}"
        );
        assert!(g.grow(u32::MAX as usize, 0).is_ok());
        assert!(g.grow(1, u32::MAX as usize + 1).is_err());
    }

    #[test]
    fn foreign_states_are_refused_on_merge() {
        let states = |masks: Vec<u64>| {
            let events: Vec<(i64, u64)> = masks.into_iter().map(|m| (0, m)).collect();
            state_lists("window_funnel", std::iter::once(events.as_slice()))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let mut g = FunnelGroups::new(call("default", 2));
        let e = g.merge_batch(&states(vec![0b100]), &[0], 1);
        assert!(
            e.as_ref().err().is_some_and(|e| e.to_string().contains(
                "partial state mask is invalid: 0x4 is no event of a 2-step default funnel"
            )),
            "{e:?}"
        );
        assert!(g.merge_batch(&states(vec![0]), &[0], 1).is_err());
        let mut so = FunnelGroups::new(call("strict_order", 2));
        assert!(so.merge_batch(&states(vec![0]), &[0], 1).is_ok());
        // One list of each kind is no state.
        let one = states(vec![1]);
        assert!(g.merge_batch(&one[..1], &[0], 1).is_err());
        let swapped = vec![one[1].clone(), one[0].clone()];
        assert!(g.merge_batch(&swapped, &[0], 1).err().is_some_and(|e| {
            e.to_string()
                .contains("expected Int64 times and UInt64 masks")
        }));
    }
}
