//! `window_funnel` and `funnel_state`: ClickHouse's `windowFunnel` level, and the library's
//! one-patient `FunnelState`, over a group's rows.
//!
//! The partial state of a group is its events as two lists of equal length, Unix seconds
//! and step masks (bit `k - 1` for `cond_k`), so that the groups of one patient split over
//! partitions concatenate back into the same events, whatever the split; the final level
//! is the library's own scan of them ([`FunnelSpec::patient_level`]).

use std::sync::Arc;

use clinic_ops::metrics::event::JourneyEventKind;
use clinic_ops::metrics::funnel::{ConversionWindow, FunnelMode, FunnelSpec, MAX_STEPS, Step};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Expr, GroupsAccumulator, Signature, Volatility,
};

use crate::args::{constant_i64, constant_str, is_text, is_time_type, raw_times, time_target};
use crate::error::SqlFnError;

mod equality;
mod groups;

use equality::{equality_form, step_masks};
use groups::FunnelGroups;

/// What the aggregate returns for a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FunnelOutput {
    /// `window_funnel`: the level, `UInt8` 0..=N, as ClickHouse returns it.
    Level,
    /// `funnel_state`: the group as one patient's `FunnelState`, in its CBOR serde form
    /// (`Binary`), for `funnel_report` to merge.
    State,
}

/// `window_funnel(window_seconds, mode, timestamp, cond_1, .., cond_N)` (or `funnel_state`
/// with the same arguments): see the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    output: FunnelOutput,
    signature: Signature,
}

impl WindowFunnel {
    /// The aggregate with this output.
    #[must_use]
    pub fn new(output: FunnelOutput) -> Self {
        WindowFunnel {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn function(&self) -> &'static str {
        match self.output {
            FunnelOutput::Level => "window_funnel",
            FunnelOutput::State => "funnel_state",
        }
    }

    /// The funnel of a call, from its constant arguments.
    fn call(&self, args: &AccumulatorArgs) -> Result<FunnelCall> {
        let function = self.function();
        let window = constant_i64(
            function,
            args.exprs,
            0,
            "window_seconds",
            "whole seconds, 1 to 4294967295",
        )?;
        let mode = constant_str(
            function,
            args.exprs,
            1,
            "mode",
            "'default', 'strict_order', 'strict_deduplication', 'strict_increase' or 'unordered'",
        )?;
        // The equality form (a text column, then the steps' values) or the conditions.
        let equality = args
            .exprs
            .get(3)
            .and_then(|e| e.data_type(args.schema).ok())
            .is_some_and(|t| is_text(&t));
        if equality {
            let values = (4..args.exprs.len())
                .map(|i| {
                    constant_str(function, args.exprs, i, "step", "a text constant")
                        .map(|s| Box::from(s.as_bytes()))
                })
                .collect::<Result<Vec<Box<[u8]>>>>()?;
            let spec = sql_spec(function, values.len(), window, &mode, None)?;
            let mut call = FunnelCall::new(function, self.output, spec);
            call.step_values = Some(values);
            return Ok(call);
        }
        let steps = args.exprs.len().saturating_sub(3);
        let spec = sql_spec(function, steps, window, &mode, None)?;
        Ok(FunnelCall::new(function, self.output, spec))
    }
}

/// The funnel of a call: `n` steps whose matchers are never consulted (the SQL conditions
/// give the masks), the window and the mode.
pub(crate) fn sql_spec(
    function: &'static str,
    steps: usize,
    window: i64,
    mode: &str,
    labels: Option<&[String]>,
) -> Result<FunnelSpec> {
    let funnel = |source| SqlFnError::Funnel { function, source };
    let window = u64::try_from(window)
        .map_err(|_| SqlFnError::BadArgument {
            function,
            name: "window_seconds",
            value: window.to_string(),
            expected: "whole seconds, 1 to 4294967295",
        })
        .and_then(|w| ConversionWindow::seconds(w).map_err(funnel))?;
    let mode: FunnelMode = mode.parse().map_err(funnel)?;
    let steps = (0..steps)
        .map(|i| {
            let label = labels
                .and_then(|l| l.get(i).cloned())
                .unwrap_or_else(|| format!("step {}", i + 1));
            // Placeholder kinds: masks come from the SQL conditions, never from kinds.
            let kind = u32::try_from(i)
                .ok()
                .and_then(|i| JourneyEventKind::custom(i).ok())
                .unwrap_or(JourneyEventKind::stage(
                    clinic_ops::metrics::event::JourneyStage::Lead,
                ));
            Step::kind(kind).labelled(label)
        })
        .collect();
    FunnelSpec::new(steps, window, mode).map_err(|e| funnel(e).into())
}

fn list_field(name: &str, item: DataType) -> FieldRef {
    Arc::new(Field::new(
        name,
        DataType::List(Arc::new(Field::new_list_field(item, true))),
        true,
    ))
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        self.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let function = self.function();
        let wrong = |problem: String| SqlFnError::Signature { function, problem };
        if arg_types.len() < 4 {
            return Err(wrong(format!(
                "takes (window_seconds, mode, timestamp, cond_1, .., cond_N), got {} arguments",
                arg_types.len()
            ))
            .into());
        }
        // The equality form: a text column, then the steps' text values.
        let equality = arg_types.len() >= 5 && arg_types[3..].iter().all(is_text);
        let steps = arg_types.len() - if equality { 4 } else { 3 };
        if steps > MAX_STEPS {
            return Err(wrong(format!("takes at most {MAX_STEPS} conditions, got {steps}")).into());
        }
        let mut out = Vec::with_capacity(arg_types.len());
        for (i, t) in arg_types.iter().enumerate() {
            out.push(match i {
                3.. if equality => t.clone(),
                0 if t.is_integer() || t.is_null() => DataType::Int64,
                1 if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                    DataType::Utf8
                }
                2 if is_time_type(t) => time_target(t),
                3.. if matches!(t, DataType::Boolean | DataType::Null) => DataType::Boolean,
                _ => {
                    let what = match i {
                        0 => "window_seconds must be an integer".to_owned(),
                        1 => "mode must be text".to_owned(),
                        2 => "timestamp must be integer Unix seconds or a timestamp".to_owned(),
                        _ => format!("cond_{} must be a boolean", i - 2),
                    };
                    return Err(wrong(format!("{what}, got {t}")).into());
                }
            });
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            FunnelOutput::Level => DataType::UInt8,
            FunnelOutput::State => DataType::Binary,
        })
    }

    fn is_nullable(&self) -> bool {
        // A level is always there (0 for a group with no step); a state only where rows are.
        self.output == FunnelOutput::State
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(match self.output {
            FunnelOutput::Level => ScalarValue::UInt8(Some(0)),
            FunnelOutput::State => ScalarValue::Binary(None),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let call = self.call(&args)?;
        Ok(Box::new(FunnelAccumulator {
            call,
            events: Vec::new(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        // One accumulator for all of a partition's groups: the per-group adapter boxes an
        // accumulator per patient and slices the batch per group, which dominates at
        // millions of patients.
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(FunnelGroups::new(self.call(&args)?)))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(Box::new(|agg, _| {
            Ok(Expr::AggregateFunction(equality_form(agg)))
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field(&format!("{}[ts]", args.name), DataType::Int64),
            list_field(&format!("{}[mask]", args.name), DataType::UInt64),
        ])
    }
}

/// What one call computes, shared by the per-group [`FunnelAccumulator`] and the
/// all-groups [`FunnelGroups`]: which rows are events, which partial states are valid,
/// and the library's scan of a group's events.
#[derive(Debug)]
pub(crate) struct FunnelCall {
    function: &'static str,
    output: FunnelOutput,
    spec: FunnelSpec,
    /// The masks a state may carry: the step bits, and 0 only in `strict_order`.
    steps_mask: u64,
    keep_other: bool,
    /// The steps' values in the equality form, whose fourth argument is the column they
    /// are values of; `None` where the arguments are conditions.
    step_values: Option<Vec<Box<[u8]>>>,
}

impl FunnelCall {
    fn new(function: &'static str, output: FunnelOutput, spec: FunnelSpec) -> Self {
        let n = spec.steps().len();
        FunnelCall {
            function,
            output,
            steps_mask: (1u64 << n).wrapping_sub(1),
            keep_other: spec.mode() == FunnelMode::StrictOrder,
            spec,
            step_values: None,
        }
    }

    fn bad_state(&self, field: &'static str, problem: String) -> SqlFnError {
        SqlFnError::BadState {
            function: self.function,
            field,
            problem,
        }
    }

    /// Gives `f` the row, Unix seconds and step mask of each row of an argument batch that
    /// is an event and passes `filter` (the aggregate's `FILTER (WHERE ..)`), in row order.
    pub(crate) fn for_each_event(
        &self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, i64, u64),
    ) -> Result<()> {
        let signature = |problem: &str| SqlFnError::Signature {
            function: self.function,
            problem: problem.to_owned(),
        };
        let (Some(ts), Some(conds)) = (values.get(2), values.get(3..)) else {
            return Err(signature("missing timestamp or conditions").into());
        };
        let (ts, nulls, per_second) = raw_times(ts)?;
        let masks = match (&self.step_values, conds.first()) {
            (Some(steps), Some(column)) => {
                if column.len() != ts.len() {
                    return Err(
                        signature("steps' column and timestamps of different lengths").into(),
                    );
                }
                step_masks(self.function, column, steps)?
            }
            _ => self.condition_masks(conds, ts.len())?,
        };
        let passes =
            |row: usize| filter.is_none_or(|f| row < f.len() && f.is_valid(row) && f.value(row));
        for (row, (&t, mask)) in ts.iter().zip(masks).enumerate() {
            // A row without a time is no event, as ClickHouse skips NULL arguments.
            if (mask != 0 || self.keep_other)
                && nulls.is_none_or(|n| n.is_valid(row))
                && passes(row)
            {
                let t = if per_second == 1 {
                    t
                } else {
                    t.div_euclid(per_second)
                };
                f(row, t, mask);
            }
        }
        Ok(())
    }

    /// Each row's step mask from the conditions' boolean arrays: bit `k` where `cond_k+1`
    /// is true (not NULL).
    fn condition_masks(&self, conds: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
        let signature = |problem: &str| SqlFnError::Signature {
            function: self.function,
            problem: problem.to_owned(),
        };
        let conds: Vec<&BooleanArray> = conds
            .iter()
            .map(|c| c.as_boolean_opt())
            .collect::<Option<_>>()
            .ok_or_else(|| signature("conditions must be booleans"))?;
        if conds.iter().any(|c| c.len() != rows) {
            return Err(signature("conditions and timestamps of different lengths").into());
        }
        // Each condition's true and valid rows set their bit: the set bits of a bitmap are
        // found a word at a time, where testing every row of every condition is not.
        let mut masks = vec![0u64; rows];
        for (k, c) in conds.iter().enumerate() {
            let truth = match c.nulls() {
                Some(valid) => c.values() & valid.inner(),
                None => c.values().clone(),
            };
            for row in truth.set_indices() {
                if let Some(m) = masks.get_mut(row) {
                    *m |= 1 << k;
                }
            }
        }
        Ok(masks)
    }

    /// Reads a batch of partial states, refusing any that no accumulator of this crate
    /// produces, and gives each row's events (times and masks of equal length) to `f`.
    pub(crate) fn for_each_state(
        &self,
        states: &[ArrayRef],
        mut f: impl FnMut(usize, &[i64], &[u64]),
    ) -> Result<()> {
        let (Some(ts), Some(masks)) = (states.first(), states.get(1)) else {
            return Err(self
                .bad_state("state", "expected two lists".to_owned())
                .into());
        };
        let (Some(ts), Some(masks)) = (ts.as_list_opt::<i32>(), masks.as_list_opt::<i32>()) else {
            return Err(self
                .bad_state("state", "expected lists of timestamps and masks".to_owned())
                .into());
        };
        if ts.len() != masks.len() {
            return Err(self
                .bad_state(
                    "state",
                    format!("{} time lists but {} mask lists", ts.len(), masks.len()),
                )
                .into());
        }
        let items = (
            ts.values().as_primitive_opt::<Int64Type>(),
            masks.values().as_primitive_opt::<UInt64Type>(),
        );
        let range = |offsets: &[i32], row: usize| {
            let at = |i: usize| offsets.get(i).and_then(|&o| usize::try_from(o).ok());
            at(row).zip(at(row + 1)).filter(|(a, b)| a <= b)
        };
        // Read once per batch: our own states have no nulls, and then no row counts any.
        let (tnulls, mnulls) = match items {
            (Some(tv), Some(mv)) => (tv.logical_nulls(), mv.logical_nulls()),
            _ => (None, None),
        };
        let nulls = |n: &Option<NullBuffer>, (from, to): (usize, usize)| match n {
            Some(n) if to <= n.len() => n.slice(from, to - from).null_count(),
            _ => 0,
        };
        for row in 0..ts.len() {
            if ts.is_null(row) && masks.is_null(row) {
                continue;
            }
            let (Some(tv), Some(mv)) = items else {
                return Err(self
                    .bad_state("ts", "expected Int64 times and UInt64 masks".to_owned())
                    .into());
            };
            let (Some(tr), Some(mr)) = (
                range(ts.value_offsets(), row),
                range(masks.value_offsets(), row),
            ) else {
                return Err(self
                    .bad_state("state", format!("row {row} has no valid offsets"))
                    .into());
            };
            let (tn, mn) = (nulls(&tnulls, tr), nulls(&mnulls, mr));
            let (Some(t), Some(m)) = (tv.values().get(tr.0..tr.1), mv.values().get(mr.0..mr.1))
            else {
                return Err(self
                    .bad_state("state", format!("row {row} reaches beyond its values"))
                    .into());
            };
            if t.len() != m.len() || tn > 0 || mn > 0 {
                return Err(self
                    .bad_state(
                        "mask",
                        format!(
                            "{} times and {} masks ({tn} and {mn} null) in one group",
                            t.len(),
                            m.len(),
                        ),
                    )
                    .into());
            }
            if let Some(&mask) = m
                .iter()
                .find(|&&mask| mask & !self.steps_mask != 0 || (mask == 0 && !self.keep_other))
            {
                return Err(self
                    .bad_state(
                        "mask",
                        format!(
                            "{mask:#x} is no event of a {}-step {} funnel",
                            self.spec.steps().len(),
                            self.spec.mode()
                        ),
                    )
                    .into());
            }
            f(row, t, m);
        }
        Ok(())
    }

    /// The level of a group's events, by the library's scan.
    pub(crate) fn level(&self, events: &[(i64, u64)]) -> Result<u8> {
        let level = self
            .spec
            .patient_level(events)
            .map_err(|source| SqlFnError::Funnel {
                function: self.function,
                source,
            })?;
        // At most MAX_STEPS (32).
        Ok(u8::try_from(level).unwrap_or(u8::MAX))
    }

    /// A group's events as one patient's `FunnelState`, in its CBOR serde form.
    pub(crate) fn state_bytes(&self, events: &[(i64, u64)]) -> Result<Vec<u8>> {
        let state = self
            .spec
            .patient_state(events)
            .map_err(|source| SqlFnError::Funnel {
                function: self.function,
                source,
            })?;
        let mut bytes = Vec::new();
        ciborium::into_writer(&state, &mut bytes)
            .map_err(|e| self.bad_state("state", e.to_string()))?;
        Ok(bytes)
    }
}

/// The two partial state lists of groups, one list per group from its events.
pub(crate) fn state_lists<'a>(
    function: &'static str,
    groups: impl Iterator<Item = &'a [(i64, u64)]> + Clone,
) -> Result<Vec<ArrayRef>> {
    let total: usize = groups.clone().map(<[_]>::len).sum();
    let mut ts = Vec::with_capacity(total);
    let mut masks = Vec::with_capacity(total);
    let mut ends = Vec::with_capacity(groups.size_hint().0 + 1);
    ends.push(0);
    for g in groups {
        ts.extend(g.iter().map(|e| e.0));
        masks.extend(g.iter().map(|e| e.1));
        ends.push(ts.len());
    }
    lists(function, ts, masks, &ends)
}

/// The two partial state lists from all groups' times and masks, group `g`'s being
/// `ends[g]..ends[g + 1]`.
pub(crate) fn lists(
    function: &'static str,
    ts: Vec<i64>,
    masks: Vec<u64>,
    ends: &[usize],
) -> Result<Vec<ArrayRef>> {
    let offsets = ends
        .iter()
        .map(|&e| i32::try_from(e))
        .collect::<std::result::Result<Vec<i32>, _>>()
        .map_err(|_| SqlFnError::Signature {
            function,
            problem: format!("more than {} events in one state batch", i32::MAX),
        })?;
    let offsets = OffsetBuffer::new(offsets.into());
    let one = |values: ArrayRef, item: DataType| -> Result<ArrayRef> {
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(item, true)),
            offsets.clone(),
            values,
            None,
        )?))
    };
    Ok(vec![
        one(Arc::new(Int64Array::from(ts)), DataType::Int64)?,
        one(Arc::new(UInt64Array::from(masks)), DataType::UInt64)?,
    ])
}

/// One group's events, as `(unix seconds, step mask)`.
#[derive(Debug)]
pub(crate) struct FunnelAccumulator {
    call: FunnelCall,
    events: Vec<(i64, u64)>,
}

impl FunnelAccumulator {
    #[cfg(test)]
    fn new(function: &'static str, output: FunnelOutput, spec: FunnelSpec) -> Self {
        FunnelAccumulator {
            call: FunnelCall::new(function, output, spec),
            events: Vec::new(),
        }
    }
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let events = &mut self.events;
        self.call
            .for_each_event(values, None, |_, t, mask| events.push((t, mask)))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.call.output {
            FunnelOutput::Level => Ok(ScalarValue::UInt8(Some(self.call.level(&self.events)?))),
            FunnelOutput::State => Ok(ScalarValue::Binary(Some(
                self.call.state_bytes(&self.events)?,
            ))),
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.events.capacity() * size_of::<(i64, u64)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let events = std::mem::take(&mut self.events);
        state_lists(self.call.function, std::iter::once(events.as_slice()))?
            .iter()
            .map(|list| ScalarValue::try_from_array(list, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let events = &mut self.events;
        self.call.for_each_state(states, |_, t, m| {
            events.extend(t.iter().copied().zip(m.iter().copied()));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(mode: &str, steps: usize) -> FunnelAccumulator {
        let spec =
            sql_spec("window_funnel", steps, 10, mode, None).unwrap_or_else(|e| panic!("{e}"));
        FunnelAccumulator::new("window_funnel", FunnelOutput::Level, spec)
    }

    fn state_of(ts: Vec<i64>, masks: Vec<u64>) -> Vec<ArrayRef> {
        let mut a = acc("default", 2);
        a.events = ts.into_iter().zip(masks).collect();
        a.state()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|s| s.to_array().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    #[test]
    fn states_concatenate_and_scan() {
        let mut a = acc("default", 2);
        a.merge_batch(&state_of(vec![5], vec![0b10]))
            .unwrap_or_else(|e| panic!("{e}"));
        a.merge_batch(&state_of(vec![0], vec![0b01]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.evaluate().ok(), Some(ScalarValue::UInt8(Some(2))));
    }

    #[test]
    fn foreign_masks_are_refused_on_merge() {
        let mut a = acc("default", 2);
        let e = a.merge_batch(&state_of(vec![0], vec![0b100]));
        assert!(
            e.as_ref().err().is_some_and(|e| e
                .to_string()
                .contains("0x4 is no event of a 2-step default funnel")),
            "{e:?}"
        );
        // A mask of no step is kept only by strict_order.
        let e = a.merge_batch(&state_of(vec![0], vec![0]));
        assert!(e.is_err());
        let mut so = acc("strict_order", 2);
        assert!(so.merge_batch(&state_of(vec![0], vec![0])).is_ok());
    }

    #[test]
    fn lists_of_different_lengths_are_refused() {
        let mut a = acc("default", 2);
        let mut s = state_of(vec![0, 1], vec![1, 2]);
        s[1] = state_of(vec![0], vec![1]).remove(1);
        assert!(a.merge_batch(&s).is_err());
    }

    #[test]
    fn bad_windows_and_modes_are_typed_errors() {
        for (w, m, want) in [
            (0, "default", "funnel window is zero"),
            (-1, "default", "window_seconds is -1"),
            (1, "strict", "funnel mode \"strict\""),
        ] {
            let e = sql_spec("window_funnel", 2, w, m, None)
                .err()
                .map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains(want)), "{e:?}");
        }
    }
}
