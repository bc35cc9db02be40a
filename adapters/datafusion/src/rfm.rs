//! `rfm_summary(as_of, date, amount)`: one patient's lifetimes summary
//! (`summary_data_from_transaction_data`, one-day periods) by the library's
//! [`RfmSummary::from_days`], over the group's transactions.
//!
//! The partial state is the group's transactions as two lists, local day numbers (`Date32`)
//! and amounts in fen (`UInt64`), checked as amounts when they come back in.

use std::sync::Arc;

use clinic_ops::money::Yuan;
use clinic_ops::segment::RfmSummary;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, ListArray, StructArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, FieldRef, Fields, UInt64Type,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use rust_decimal::Decimal;

use crate::args::constant;
use crate::error::SqlFnError;

const NAME: &str = "rfm_summary";
/// Amounts are read at this scale, so that an amount with more than two places is refused
/// by [`Yuan::new`] rather than rounded by a cast.
const AMOUNT_SCALE: i8 = 10;

/// `rfm_summary(as_of, date, amount)`: see the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RfmSummaryUdaf {
    signature: Signature,
}

impl RfmSummaryUdaf {
    /// The aggregate.
    #[must_use]
    pub fn new() -> Self {
        RfmSummaryUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RfmSummaryUdaf {
    fn default() -> Self {
        Self::new()
    }
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::UInt32, false),
        Field::new("recency", DataType::UInt32, false),
        Field::new("T", DataType::UInt32, false),
        Field::new("monetary_value", DataType::Decimal128(20, 2), false),
    ])
}

fn is_date_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

impl AggregateUDFImpl for RfmSummaryUdaf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let ok = match arg_types {
            [a, d, m] => {
                is_date_like(a)
                    && is_date_like(d)
                    && (m.is_numeric()
                        || matches!(m, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
            }
            _ => false,
        };
        if !ok {
            return Err(SqlFnError::Signature {
                function: NAME,
                problem: format!(
                    "takes (as_of DATE, date DATE, amount DECIMAL), got ({})",
                    arg_types
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .into());
        }
        Ok(vec![
            DataType::Date32,
            DataType::Date32,
            DataType::Decimal128(38, AMOUNT_SCALE),
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let as_of = match constant(NAME, args.exprs, 0, "as_of")? {
            ScalarValue::Date32(Some(d)) => i64::from(d),
            other => {
                return Err(SqlFnError::BadArgument {
                    function: NAME,
                    name: "as_of",
                    value: other.to_string(),
                    expected: "a date",
                }
                .into());
            }
        };
        Ok(Box::new(RfmAccumulator {
            as_of,
            rows: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: String, item: DataType| {
            Arc::new(Field::new(
                name,
                DataType::List(Arc::new(Field::new_list_field(item, true))),
                true,
            ))
        };
        Ok(vec![
            list(format!("{}[day]", args.name), DataType::Date32),
            list(format!("{}[fen]", args.name), DataType::UInt64),
        ])
    }
}

/// One group's transactions as (local day number, amount).
#[derive(Debug)]
struct RfmAccumulator {
    as_of: i64,
    rows: Vec<(i64, Yuan)>,
}

fn bad_state(problem: String) -> SqlFnError {
    SqlFnError::BadState {
        function: NAME,
        field: "transactions",
        problem,
    }
}

impl Accumulator for RfmAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(days), Some(amounts)) = (values.get(1), values.get(2)) else {
            return Err(bad_state("missing date or amount".to_owned()).into());
        };
        let (Some(days), Some(amounts)) = (
            days.as_primitive_opt::<Date32Type>(),
            amounts.as_primitive_opt::<Decimal128Type>(),
        ) else {
            return Err(bad_state("date or amount of the wrong type".to_owned()).into());
        };
        for (day, amount) in days.iter().zip(amounts.iter()) {
            // Rows without a date or an amount are no transaction.
            let (Some(day), Some(amount)) = (day, amount) else {
                continue;
            };
            let bad = |e: String| SqlFnError::BadValue {
                function: NAME,
                name: "amount",
                value: Decimal::try_from_i128_with_scale(amount, AMOUNT_SCALE as u32)
                    .map_or_else(|_| amount.to_string(), |d| d.normalize().to_string()),
                problem: e,
            };
            let yuan = Decimal::try_from_i128_with_scale(amount, AMOUNT_SCALE as u32)
                .map_err(|e| bad(e.to_string()))
                .and_then(|d| Yuan::new(d.normalize()).map_err(|e| bad(e.to_string())))?;
            self.rows.push((i64::from(day), yuan));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let summary = RfmSummary::from_days(&mut self.rows, self.as_of).map_err(|e| {
            SqlFnError::BadValue {
                function: NAME,
                name: "amount",
                value: "sum".to_owned(),
                problem: e.to_string(),
            }
        })?;
        let fields = output_fields();
        let Some(s) = summary else {
            return Ok(ScalarValue::Struct(Arc::new(StructArray::new_null(
                fields, 1,
            ))));
        };
        let fen = i128::from(s.monetary_value.to_fen());
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(datafusion::arrow::array::UInt32Array::from(vec![
                s.frequency,
            ])),
            Arc::new(datafusion::arrow::array::UInt32Array::from(vec![s.recency])),
            Arc::new(datafusion::arrow::array::UInt32Array::from(vec![s.t])),
            Arc::new(
                datafusion::arrow::array::Decimal128Array::from(vec![fen])
                    .with_precision_and_scale(20, 2)?,
            ),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            fields, arrays, None,
        )?)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.rows.capacity() * size_of::<(i64, Yuan)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let rows = std::mem::take(&mut self.rows);
        let days: Vec<i32> = rows
            .iter()
            .map(|(d, _)| i32::try_from(*d).unwrap_or(i32::MAX))
            .collect();
        let fen: Vec<u64> = rows.iter().map(|(_, y)| y.to_fen()).collect();
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
            one(Arc::new(Date32Array::from(days)), DataType::Date32),
            one(Arc::new(UInt64Array::from(fen)), DataType::UInt64),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(days), Some(fen)) = (
            states.first().and_then(|a| a.as_list_opt::<i32>()),
            states.get(1).and_then(|a| a.as_list_opt::<i32>()),
        ) else {
            return Err(bad_state("expected lists of days and amounts".to_owned()).into());
        };
        if days.len() != fen.len() {
            return Err(bad_state(format!(
                "{} day lists but {} amount lists",
                days.len(),
                fen.len()
            ))
            .into());
        }
        for row in 0..days.len() {
            if days.is_null(row) && fen.is_null(row) {
                continue;
            }
            let (d, f) = (days.value(row), fen.value(row));
            let (Some(d), Some(f)) = (
                d.as_primitive_opt::<Date32Type>(),
                f.as_primitive_opt::<UInt64Type>(),
            ) else {
                return Err(bad_state("expected Date32 days and UInt64 fen".to_owned()).into());
            };
            if d.len() != f.len() || d.null_count() > 0 || f.null_count() > 0 {
                return Err(bad_state(format!("{} days and {} amounts", d.len(), f.len())).into());
            }
            for (&day, &fen) in d.values().iter().zip(f.values().iter()) {
                let yuan = Yuan::try_from_fen(fen)
                    .map_err(|e| bad_state(format!("amount of {fen} fen: {e}")))?;
                self.rows.push((i64::from(day), yuan));
            }
        }
        Ok(())
    }
}
