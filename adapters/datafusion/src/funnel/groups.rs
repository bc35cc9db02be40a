//! `window_funnel` and `funnel_state` for all of a partition's groups at once.
//!
//! DataFusion's per-group adapter keeps a boxed [`FunnelAccumulator`](super::FunnelAccumulator)
//! per patient, takes each batch apart group by group, and in the partial stage of a
//! high-cardinality `GROUP BY` turns every row into a state through a fresh accumulator.
//! Here every group's events live in one vector of vectors and each batch is read once.
//! The partial state (two lists, Unix seconds and step masks), its validation on merge and
//! the scan of a group (the library's [`FunnelSpec::patient_level`]) are the per-group
//! accumulator's own, through [`FunnelCall`].
//!
//! [`FunnelSpec::patient_level`]: clinic_ops::metrics::funnel::FunnelSpec::patient_level

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, UInt8Array};
use datafusion::common::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::{FunnelCall, FunnelOutput, state_lists};

/// Each group's events, `(unix seconds, step mask)`, by group index.
#[derive(Debug)]
pub(crate) struct FunnelGroups {
    call: FunnelCall,
    groups: Vec<Vec<(i64, u64)>>,
    /// Bytes held by the groups' event vectors, kept up to date so that `size` is O(1).
    heap: usize,
}

const EVENT: usize = size_of::<(i64, u64)>();

impl FunnelGroups {
    pub(crate) fn new(call: FunnelCall) -> Self {
        FunnelGroups {
            call,
            groups: Vec::new(),
            heap: 0,
        }
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.groups.len() < total_num_groups {
            self.groups.resize_with(total_num_groups, Vec::new);
        }
    }

    /// Takes the groups `emit_to` asks for out of the accumulator.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<(i64, u64)>> {
        let taken = emit_to.take_needed(&mut self.groups);
        let freed: usize = taken.iter().map(|g| g.capacity() * EVENT).sum();
        self.heap = self.heap.saturating_sub(freed);
        taken
    }
}

/// Appends events to a group, keeping `heap` in step with the vector's capacity.
fn push(
    groups: &mut [Vec<(i64, u64)>],
    heap: &mut usize,
    group: usize,
    events: impl IntoIterator<Item = (i64, u64)>,
) {
    if let Some(g) = groups.get_mut(group) {
        let before = g.capacity();
        g.extend(events);
        *heap += (g.capacity() - before) * EVENT;
    }
}

/// Whether a row passes the aggregate's `FILTER (WHERE ..)`.
fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| row < f.len() && f.is_valid(row) && f.value(row))
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let events = self.call.events(values)?;
        for (row, (event, &group)) in events.into_iter().zip(group_indices).enumerate() {
            if let Some(e) = event.filter(|_| passes(opt_filter, row)) {
                push(&mut self.groups, &mut self.heap, group, [e]);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        Ok(match self.call.output {
            FunnelOutput::Level => Arc::new(
                groups
                    .iter()
                    .map(|g| self.call.level(g).map(Some))
                    .collect::<Result<UInt8Array>>()?,
            ),
            FunnelOutput::State => Arc::new(
                groups
                    .iter()
                    .map(|g| self.call.state_bytes(g).map(Some))
                    .collect::<Result<BinaryArray>>()?,
            ),
        })
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        state_lists(self.call.function, groups.iter().map(Vec::as_slice))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let FunnelGroups { call, groups, heap } = self;
        call.for_each_state(values, |row, t, m| {
            if let Some(&group) = group_indices.get(row) {
                push(
                    groups,
                    heap,
                    group,
                    t.iter().copied().zip(m.iter().copied()),
                );
            }
        })
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group: a list of its one event, or an empty list.
        let events = self.call.events(values)?;
        let one: Vec<Option<(i64, u64)>> = events
            .into_iter()
            .enumerate()
            .map(|(row, e)| e.filter(|_| passes(opt_filter, row)))
            .collect();
        state_lists(self.call.function, one.iter().map(|e| e.as_slice()))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.groups.capacity() * size_of::<Vec<(i64, u64)>>() + self.heap
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
            prop_assert_eq!(partial.size(), size_of_val(&partial) + partial.groups.capacity() * size_of::<Vec<(i64, u64)>>());
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
