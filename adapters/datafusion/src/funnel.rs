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
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::args::{constant_i64, constant_str, is_time_type, seconds, time_target};
use crate::error::SqlFnError;

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
        if arg_types.len() - 3 > MAX_STEPS {
            return Err(wrong(format!(
                "takes at most {MAX_STEPS} conditions, got {}",
                arg_types.len() - 3
            ))
            .into());
        }
        let mut out = Vec::with_capacity(arg_types.len());
        for (i, t) in arg_types.iter().enumerate() {
            out.push(match i {
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
        let steps = args.exprs.len().saturating_sub(3);
        let spec = sql_spec(function, steps, window, &mode, None)?;
        Ok(Box::new(FunnelAccumulator::new(
            function,
            self.output,
            spec,
        )))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field(&format!("{}[ts]", args.name), DataType::Int64),
            list_field(&format!("{}[mask]", args.name), DataType::UInt64),
        ])
    }
}

/// One group's events, as `(unix seconds, step mask)`.
#[derive(Debug)]
pub(crate) struct FunnelAccumulator {
    function: &'static str,
    output: FunnelOutput,
    spec: FunnelSpec,
    /// The masks a state may carry: the step bits, and 0 only in `strict_order`.
    steps_mask: u64,
    keep_other: bool,
    events: Vec<(i64, u64)>,
}

impl FunnelAccumulator {
    fn new(function: &'static str, output: FunnelOutput, spec: FunnelSpec) -> Self {
        let n = spec.steps().len();
        FunnelAccumulator {
            function,
            output,
            steps_mask: (1u64 << n).wrapping_sub(1),
            keep_other: spec.mode() == FunnelMode::StrictOrder,
            spec,
            events: Vec::new(),
        }
    }

    fn bad_state(&self, field: &'static str, problem: String) -> SqlFnError {
        SqlFnError::BadState {
            function: self.function,
            field,
            problem,
        }
    }
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(ts), Some(conds)) = (values.get(2), values.get(3..)) else {
            return Err(SqlFnError::Signature {
                function: self.function,
                problem: "missing timestamp or conditions".to_owned(),
            }
            .into());
        };
        let ts = seconds(ts)?;
        let conds: Vec<&BooleanArray> = conds
            .iter()
            .map(|c| c.as_boolean_opt())
            .collect::<Option<_>>()
            .ok_or_else(|| SqlFnError::Signature {
                function: self.function,
                problem: "conditions must be booleans".to_owned(),
            })?;
        for (row, t) in ts.iter().enumerate() {
            // A row without a time is no event, as ClickHouse skips NULL arguments.
            let Some(t) = *t else { continue };
            let mut mask = 0u64;
            for (k, c) in conds.iter().enumerate() {
                if c.is_valid(row) && c.value(row) {
                    mask |= 1 << k;
                }
            }
            if mask != 0 || self.keep_other {
                self.events.push((t, mask));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let funnel = |source| SqlFnError::Funnel {
            function: self.function,
            source,
        };
        match self.output {
            FunnelOutput::Level => {
                let level = self.spec.patient_level(&self.events).map_err(funnel)?;
                // At most MAX_STEPS (32).
                Ok(ScalarValue::UInt8(Some(
                    u8::try_from(level).unwrap_or(u8::MAX),
                )))
            }
            FunnelOutput::State => {
                let state = self.spec.patient_state(&self.events).map_err(funnel)?;
                let mut bytes = Vec::new();
                ciborium::into_writer(&state, &mut bytes)
                    .map_err(|e| self.bad_state("state", e.to_string()))?;
                Ok(ScalarValue::Binary(Some(bytes)))
            }
        }
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.events.capacity() * size_of::<(i64, u64)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (ts, masks): (Vec<i64>, Vec<u64>) =
            std::mem::take(&mut self.events).into_iter().unzip();
        let one = |values: ArrayRef, item: DataType| {
            let len = values.len();
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(item, true)),
                OffsetBuffer::from_lengths([len]),
                values,
                None,
            )))
        };
        Ok(vec![
            one(Arc::new(Int64Array::from(ts)), DataType::Int64),
            one(Arc::new(UInt64Array::from(masks)), DataType::UInt64),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
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
        for row in 0..ts.len() {
            if ts.is_null(row) && masks.is_null(row) {
                continue;
            }
            let t = ts.value(row);
            let m = masks.value(row);
            let (Some(t), Some(m)) = (
                t.as_primitive_opt::<Int64Type>(),
                m.as_primitive_opt::<UInt64Type>(),
            ) else {
                return Err(self
                    .bad_state("ts", "expected Int64 times and UInt64 masks".to_owned())
                    .into());
            };
            if t.len() != m.len() || t.null_count() > 0 || m.null_count() > 0 {
                return Err(self
                    .bad_state(
                        "mask",
                        format!(
                            "{} times and {} masks ({} and {} null) in one group",
                            t.len(),
                            m.len(),
                            t.null_count(),
                            m.null_count()
                        ),
                    )
                    .into());
            }
            self.events.reserve(t.len());
            for (&at, &mask) in t.values().iter().zip(m.values().iter()) {
                if mask & !self.steps_mask != 0 || (mask == 0 && !self.keep_other) {
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
                self.events.push((at, mask));
            }
        }
        Ok(())
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
