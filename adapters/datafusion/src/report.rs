//! `funnel_report(state [, labels])`: merges the `FunnelState`s that `funnel_state` gives per
//! patient into the report of them all. Its partial state is the merged `FunnelState` in
//! CBOR; every state that comes in, from the rows or from another partition, is read
//! through the library's checked serde form and merged with the library's `merge`.

use clinic_ops::metrics::funnel::FunnelState;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use std::sync::Arc;

use crate::args::constant_str;
use crate::error::SqlFnError;
use crate::funnel::sql_spec;

const NAME: &str = "funnel_report";

/// `funnel_report(state [, labels])`: see the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunnelReportUdaf {
    signature: Signature,
}

impl FunnelReportUdaf {
    /// The aggregate.
    #[must_use]
    pub fn new() -> Self {
        FunnelReportUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for FunnelReportUdaf {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for FunnelReportUdaf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = match arg_types {
            [s] => matches!(
                s,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
            ),
            [s, l] => {
                matches!(
                    s,
                    DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                        | DataType::Null
                ) && matches!(l, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            }
            _ => false,
        };
        if !ok {
            return Err(SqlFnError::Signature {
                function: NAME,
                problem: format!(
                    "takes (state [, labels]): a funnel_state and optional text labels, got ({})",
                    arg_types
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .into());
        }
        let mut out = vec![DataType::Binary];
        if arg_types.len() == 2 {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let labels = if args.exprs.len() > 1 {
            let text = constant_str(NAME, args.exprs, 1, "labels", "comma-separated step labels")?;
            Some(text.split(',').map(|s| s.trim().to_owned()).collect())
        } else {
            None
        };
        Ok(Box::new(ReportAccumulator {
            state: None,
            labels,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[state]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// The merged state of the rows and partitions seen so far.
#[derive(Debug)]
struct ReportAccumulator {
    state: Option<FunnelState>,
    labels: Option<Vec<String>>,
}

fn bad(field: &'static str, problem: String) -> SqlFnError {
    SqlFnError::BadState {
        function: NAME,
        field,
        problem,
    }
}

impl ReportAccumulator {
    fn absorb(&mut self, col: &ArrayRef, field: &'static str) -> Result<()> {
        let col = col
            .as_binary_opt::<i32>()
            .ok_or_else(|| bad(field, format!("expected Binary, got {}", col.data_type())))?;
        for bytes in col.iter().flatten() {
            // The checked serde form: nothing a compute and merges cannot produce gets in.
            let one: FunnelState =
                ciborium::from_reader(bytes).map_err(|e| bad(field, e.to_string()))?;
            match &mut self.state {
                None => self.state = Some(one),
                Some(s) => s.merge(&one).map_err(|source| SqlFnError::Funnel {
                    function: NAME,
                    source,
                })?,
            }
        }
        Ok(())
    }
}

impl Accumulator for ReportAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(c) => self.absorb(c, "argument"),
            None => Ok(()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        match states.first() {
            Some(c) => self.absorb(c, "state"),
            None => Ok(()),
        }
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(match &self.state {
            None => None,
            Some(s) => {
                let mut bytes = Vec::new();
                ciborium::into_writer(s, &mut bytes).map_err(|e| bad("state", e.to_string()))?;
                Some(bytes)
            }
        })])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(state) = &self.state else {
            return Ok(ScalarValue::Utf8(None));
        };
        let steps = state.total().by_level().len().saturating_sub(1);
        // Only the labels of this spec are read: the report's mode, window and counts are
        // the state's own.
        let spec = sql_spec(NAME, steps, 1, "default", self.labels.as_deref())?;
        let report = state.report(&spec, usize::MAX);
        let json = serde_json::to_string(&report).map_err(|e| bad("report", e.to_string()))?;
        Ok(ScalarValue::Utf8(Some(json)))
    }

    fn size(&self) -> usize {
        // The samples dominate: one u32 per patient and step past the first.
        size_of_val(self)
            + self.state.as_ref().map_or(0, |s| {
                let steps = s.total().by_level().len();
                usize::try_from(s.patients())
                    .unwrap_or(usize::MAX)
                    .saturating_mul(steps * 4)
                    + 256
            })
    }
}
